"""What an unverified credential *claims*: never trusted, used only to file and route it.

A refused assertion is filed in the audit log under the org it names, so ``forcegate audit --org``
shows the attempts against that org too; a bearer token's header says which verifier to try.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from forcegate.core import ids
from forcegate.core._b64 import b64url_decode

__all__ = ["NOTHING_CLAIMED", "ClaimedIdentity", "claimed_identity", "looks_like_access_token"]


class ClaimedIdentity(NamedTuple):
    issuer: str | None
    org_id: str | None
    subject: str | None


NOTHING_CLAIMED = ClaimedIdentity(None, None, None)


def claimed_identity(token: str | None) -> ClaimedIdentity:
    """Best effort, for the audit log only: never trusted, never raises."""
    if not token:
        return NOTHING_CLAIMED
    try:
        claims = orjson.loads(b64url_decode(token.split(".")[1][:16384]))
    except (ValueError, IndexError, orjson.JSONDecodeError):
        return NOTHING_CLAIMED
    if not isinstance(claims, dict):
        return NOTHING_CLAIMED

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value[:255] if isinstance(value, str) else None

    issuer = text("iss")
    org = text("org_id") or issuer
    org_id = ids.to18(org) if org is not None and ids.is_valid(org) and org.startswith(ids.ORG_PREFIX) else None
    return ClaimedIdentity(issuer, org_id, text("sub"))


def looks_like_access_token(token: str) -> bool:
    """Peek at the (unverified) header's ``typ``: it only routes the token to the right verifier,
    each of which checks everything itself."""
    head, dot, _ = token.partition(".")
    if not dot or len(head) > 1024:
        return False
    try:
        header = orjson.loads(b64url_decode(head))
    except (ValueError, orjson.JSONDecodeError):
        return False
    return isinstance(header, dict) and header.get("typ") == "at+jwt"
