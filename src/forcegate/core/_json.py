"""Strict JSON decoding shared by the Canvas and JWS parsers: no NaN/Infinity, no duplicate members.

Duplicate member names are refused everywhere (RFC 7515 §5.2 / RFC 7519 §4 let a parser either
refuse them or keep the last; two parsers keeping different ones is how a claim gets smuggled past
one of them). :func:`loads_unique` does it without a second full parse on the hot paths: orjson
parses (fast, but it keeps the last of two equal names silently) and writes the result back. When
that is the input byte for byte — compact JSON, which is what Apex and Salesforce send — nothing was
dropped. Otherwise the ``:`` of the input are counted against those of orjson's serialisation.
Outside strings a ``:`` only separates a member's name from its value, and orjson writes every
string's ``:`` as is; so, when the
input spells no ``:`` as ``\\u003a``, the two counts are equal exactly when no member was dropped —
a dropped member takes at least its own ``:`` with it. An input with such an escape (never seen from
Salesforce or Apex) is decoded a second time with the standard library's pairs hook, which decides.
The serialisation also bounds the nesting: orjson parses up to 1024 levels but writes at most
:data:`MAX_DEPTH`, so deeper input is refused (Salesforce envelopes and Apex claims are a few levels
deep). orjson reads an integer beyond 64 bits as a float, silently: an input with a run of 19 or
more digits (where such an integer would be) takes the exact path too, whose decoder refuses it.
Failures are ``ValueError``s, which each caller turns into its own error type.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "STRICT_DECODER", "UNIQUE_MEMBERS_DECODER", "loads_unique"]

#: The deepest nesting :func:`loads_unique` accepts: orjson.dumps's limit, which the duplicate check
#: re-serialises with (tests/core/test_json.py pins it, so an orjson upgrade that moves it is seen).
MAX_DEPTH = 254


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 §5.2 / RFC 7519 §4: duplicate member names must be rejected or resolved to the last;
    # two parsers resolving them differently is how an `aud` or `alg` gets smuggled. We reject.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise ValueError(f"duplicate JSON member {name!r}")
            seen.add(name)
    return result


def _int64(text: str) -> int:
    # orjson's range: what it reads as an int (beyond it, a float that is not the number sent).
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise ValueError(f"integer {text[:24]}… does not fit in 64 bits")
    return value


STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
UNIQUE_MEMBERS_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
_EXACT_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant, parse_int=_int64
)
# 2**63 has 19 digits: a shorter run is always within orjson's integer range. Found by mapping every
# digit to "0" and everything else to "x", then searching for 19 "0"s: a few hundred nanoseconds for
# a JWT's claims, where a regular expression ([0-9]{19}) takes about 6 µs.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x78 for byte in range(256))
_LONG_RUN = b"0" * 19


def _has_long_digit_run(data: bytes) -> bool:
    return data.translate(_DIGITS_TO_ZERO).find(_LONG_RUN) >= 0


def loads_unique(data: bytes | str) -> Any:
    """``data`` (UTF-8) as JSON, refusing duplicate member names, nesting deeper than :data:`MAX_DEPTH`,
    ``NaN``/``Infinity``, integers beyond 64 bits, lone surrogates and invalid UTF-8 (orjson's rules);
    ``ValueError`` for any of them."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(exc.msg) from None
    try:
        serialised = orjson.dumps(value)
    except orjson.JSONEncodeError:
        # A TypeError, raised only past orjson's writing depth: the value is plain decoded JSON.
        raise ValueError(f"JSON is nested more than {MAX_DEPTH} levels deep") from None
    if serialised == data:
        # Compact JSON as Apex's JSON.serialize and Salesforce's Canvas envelopes write it: orjson
        # wrote back exactly the input, so it dropped no member and read no integer as a float.
        return value
    # Counted on the input as given (str or bytes): no copy. An escape \\u0030..\\u003f (which covers
    # ``:``, in either case of its last digit) sends the input to the exact check.
    if isinstance(data, str):
        counted = data.count(":") == serialised.count(b":") and "\\u003" not in data
        exact = not counted or _has_long_digit_run(data.encode("utf-8", "surrogatepass"))
    else:
        counted = data.count(b":") == serialised.count(b":") and b"\\u003" not in data
        exact = not counted or _has_long_digit_run(data)
    if not exact:
        return value
    # A member was dropped, or the counts cannot tell, or an integer may not fit: the standard
    # library's decoder sees every member and every digit, and names what it refuses.
    _EXACT_DECODER.decode(data if isinstance(data, str) else data.decode("utf-8"))
    return value
