"""Strict JSON decoders shared by the Canvas and JWS parsers, built once.

``json.loads(..., parse_constant=...)`` constructs a new decoder on every call, so the decoders
are module-level. Both refuse ``NaN``/``Infinity`` (not JSON, and not comparable); the ``unique``
one also refuses duplicate member names. Failures are ``ValueError``s, which each caller turns into
its own error type.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["STRICT_DECODER", "UNIQUE_MEMBERS_DECODER"]


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


STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
UNIQUE_MEMBERS_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
