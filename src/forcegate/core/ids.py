"""Salesforce record ids: the 15-character case-sensitive form and the 18-character case-safe form.

An id is 15 characters of ``[0-9A-Za-z]`` (a 3-character key prefix naming the object type, then
the record number in base 62). Because spreadsheets and many integration tools compare text
case-insensitively, Salesforce also hands out an 18-character form: the same 15 characters plus a
3-character suffix that records which of them are upper-case letters. The suffix is computed per
5-character chunk: bit *i* of the chunk's number is set when character *i* is an upper-case
letter, and the number (0 to 31) indexes ``ABCDEFGHIJKLMNOPQRSTUVWXYZ012345``. (This is what the
``CASESAFEID()`` formula function returns.)

forcegate always works with the canonical 18-character form: the first 15 characters in their true
case and an upper-case suffix. Since the 18-character form is case-insensitive by design, an
18-character id whose case was folded on the way (``005X0000001SYYEAAS``, ``005x0000001syyeaas``)
is restored to its true case from the suffix. Any other disagreement between the suffix and the
letter case is refused. The suffix only encodes letter case, so it catches case corruption and a
few impossible combinations (an "upper-case" digit), not typos in general.
"""

from __future__ import annotations

import functools
import re

from forcegate.errors import ConfigurationError, InvalidSalesforceId

__all__ = ["ORG_PREFIX", "USER_PREFIX", "is_valid", "same_id", "to15", "to18", "validate"]

ORG_PREFIX = "00D"
"""Key prefix of Organization ids."""

USER_PREFIX = "005"
"""Key prefix of User ids."""

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SUFFIX_VALUE = {c: i for i, c in enumerate(_SUFFIX_ALPHABET)}
_ID15 = re.compile(r"[0-9A-Za-z]{15}", re.ASCII)
_PREFIX = re.compile(r"[0-9A-Za-z]{3}", re.ASCII)
_GOOD_PREFIXES = frozenset({ORG_PREFIX, USER_PREFIX})  # skip the regex for the prefixes checked on every request


# A-Z -> "1", everything else -> "0": one translate gives the case bits of all 15 characters.
_CASE_BITS = str.maketrans({c: "1" if c.isupper() else "0" for c in map(chr, range(128)) if c.isalnum()})


def _checksum(id15: str) -> str:
    bits = id15.translate(_CASE_BITS)
    # Bit i of each chunk's number is character i of the chunk: read each 5-bit group reversed.
    return (
        _SUFFIX_ALPHABET[int(bits[4::-1], 2)]
        + _SUFFIX_ALPHABET[int(bits[9:4:-1], 2)]
        + _SUFFIX_ALPHABET[int(bits[14:9:-1], 2)]
    )


def _restore_case(folded15: str, suffix: str) -> str:
    """Give each letter of ``folded15`` the case the (upper-cased, valid) ``suffix`` records."""
    chars = []
    for chunk, suffix_char in enumerate(suffix):
        bits = _SUFFIX_VALUE[suffix_char]
        for bit in range(5):
            char = folded15[chunk * 5 + bit]
            upper = bool(bits >> bit & 1)
            if char.isdigit():
                if upper:
                    raise InvalidSalesforceId(
                        f"checksum suffix does not match: it marks character {chunk * 5 + bit + 1} (a digit) as "
                        "an upper-case letter"
                    )
                chars.append(char)
            else:
                chars.append(char.upper() if upper else char.lower())
    return "".join(chars)


def to18(sfid: str) -> str:
    """Return the canonical 18-character form of a 15- or 18-character Salesforce id.

    A 15-character id gets its checksum suffix appended. An 18-character id is checked against its
    suffix and returned with the first 15 characters in the case the suffix records and the suffix
    upper-cased; a case-folded id is thereby restored. Raises :class:`InvalidSalesforceId`, with
    the reason, for anything else.
    """
    if not isinstance(sfid, str):
        raise InvalidSalesforceId(f"a Salesforce id is a string, not {type(sfid).__name__}")
    length = len(sfid)
    if length not in (15, 18):
        raise InvalidSalesforceId(f"a Salesforce id has 15 or 18 characters, not {length}")
    return _canonical(sfid)


# The same few org and user ids come back on every request; the cache holds only valid ids of 15
# or 18 characters (a raised exception is not cached), so its size is bounded.
@functools.lru_cache(maxsize=4096)
def _canonical(sfid: str) -> str:
    base = sfid[:15]
    if _ID15.fullmatch(base) is None:
        raise InvalidSalesforceId("a Salesforce id has only the characters 0-9, A-Z and a-z")
    if len(sfid) == 15:
        return base + _checksum(base)
    suffix = sfid[15:].upper()
    if any(c not in _SUFFIX_VALUE for c in suffix):
        raise InvalidSalesforceId("the checksum suffix of an 18-character id has only the characters A-Z and 0-5")
    if _checksum(base) == suffix:  # the common case: already canonical but for the suffix's case
        return base + suffix
    if base != base.upper() and base != base.lower():
        # Mixed case that disagrees with the suffix is corruption, not a case-insensitive copy.
        raise InvalidSalesforceId("the checksum suffix does not match the letter case of the first 15 characters")
    return _restore_case(base, suffix) + suffix


def to15(sfid: str) -> str:
    """Return the 15-character case-sensitive form of a 15- or 18-character id (validated as by :func:`to18`)."""
    return to18(sfid)[:15]


def is_valid(sfid: str) -> bool:
    """Whether ``sfid`` is a well-formed 15- or 18-character Salesforce id."""
    try:
        to18(sfid)
    except InvalidSalesforceId:
        return False
    return True


def same_id(a: str, b: str) -> bool:
    """Whether two ids, each in 15- or 18-character form, name the same record.

    Returns ``False`` when either is not a well-formed id: a malformed id names nothing.
    """
    try:
        return to18(a) == to18(b)
    except InvalidSalesforceId:
        return False


def validate(sfid: str, *, prefix: str | None = None) -> str:
    """Check an id and return its canonical 18-character form.

    ``prefix``, when given (``ORG_PREFIX``, ``USER_PREFIX`` …), is the key prefix the id must start
    with; it is compared case-sensitively, as key prefixes are. Raises
    :class:`InvalidSalesforceId`.
    """
    if prefix is not None and (
        not isinstance(prefix, str) or (prefix not in _GOOD_PREFIXES and _PREFIX.fullmatch(prefix) is None)
    ):
        raise ConfigurationError("a key prefix is 3 characters of 0-9, A-Z and a-z")
    canonical = to18(sfid)
    if prefix is not None and not canonical.startswith(prefix):
        raise InvalidSalesforceId(f"expected an id with key prefix {prefix!r}, got one with {canonical[:3]!r}")
    return canonical
