"""What an unverified credential *claims*: never trusted, used only to file and route it.

A refused assertion is filed in the audit log under the org it names, so ``forcegate audit --org``
shows the attempts against that org too; a bearer token's header says which verifier to try.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import orjson

from forcegate.core import ids
from forcegate.core._b64 import b64_decode_lenient, b64url_decode

__all__ = [
    "NOTHING_CLAIMED",
    "ClaimedIdentity",
    "claimed_canvas_app",
    "claimed_canvas_org",
    "claimed_identity",
    "looks_like_access_token",
]


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


def claimed_canvas_org(signed_request: str | None) -> str | None:
    """The org a Canvas signed request names in ``context.organization.organizationId`` (unverified,
    for refusal counts only); None when it cannot be read cheaply. Never raises."""
    if not signed_request:
        return None
    payload = signed_request.partition(".")[2][:65536]
    try:
        envelope = orjson.loads(b64_decode_lenient(payload))
        organization = envelope["context"]["organization"]["organizationId"]
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        return None
    if not isinstance(organization, str) or not ids.is_valid(organization):
        return None
    return ids.to18(organization)


def claimed_canvas_app(signed_request: str) -> tuple[str, str] | None:
    """The Canvas app a signed request names in ``context.application``, as (namespace, developerName)
    — unverified, to pick the secrets to check it against; None when it names none. Never raises.

    Read from the payload's first :data:`_ROUTE_PREFIX` characters only, without parsing the JSON:
    decoding a whole 256 KB request costs about eight HMACs over it, which is the very work routing
    saves. Salesforce writes ``application`` before ``environment`` (where the large parameters and
    record live), so the name is in that prefix; a request whose name is not is routed as naming
    none. A lie here only picks secrets that then fail to verify the request.
    """
    payload = signed_request.partition(".")[2][:_ROUTE_PREFIX]
    try:
        head = b64_decode_lenient(payload[: len(payload) - len(payload) % 4])
    except ValueError:
        return None
    name = _DEVELOPER_NAME.search(head)
    if name is None:
        return None
    namespace = _NAMESPACE.search(head)
    return ("" if namespace is None else namespace.group(1).decode("ascii")), name.group(1).decode("ascii")


#: Base64 characters of the payload read for routing (a multiple of 4): 12 KB of JSON.
_ROUTE_PREFIX = 16384
_DEVELOPER_NAME = re.compile(rb'"developerName"\s*:\s*"([A-Za-z0-9_]{1,96})"')
_NAMESPACE = re.compile(rb'"namespace"\s*:\s*"([A-Za-z0-9_]{0,15})"')
