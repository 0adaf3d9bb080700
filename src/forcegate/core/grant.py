"""The JWT-bearer authorization grant (RFC 7523 §2.1), without HTTP.

``Auth.JWTBearerTokenExchange`` POSTs ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
and ``assertion=<jws>`` form-encoded, with no client credentials; RFC 7523 §3.1 makes client
authentication optional for this grant, so ``client_id`` / ``client_assertion`` are not required
and, when sent, ignored (the assertion's ``iss`` is the client). The service reads the body,
calls :func:`parse_token_request`, then :func:`exchange`, and writes the RFC 6749 §5.1 response or
maps the error to §5.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from forcegate.core.access_token import AccessTokenIssuer, IssuedAccessToken
from forcegate.core.assertion import AssertionVerifier, ReplayClaimer, VerifiedAssertion
from forcegate.core.form import parse_form
from forcegate.core.identity import Identity
from forcegate.errors import RequestError, UnsupportedGrantType

__all__ = [
    "JWT_BEARER_GRANT_TYPE",
    "MAX_BODY_BYTES",
    "MAX_FIELDS",
    "TokenGrant",
    "TokenRequest",
    "exchange",
    "parse_token_request",
    "prepare_grant",
    "token_request",
]

JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_BODY_BYTES = 64 * 1024
"""Largest token request body: an assertion is at most 16 KB, the rest a few short parameters."""
MAX_FIELDS = 16
"""Most parameters in one request (Apex sends two), bounding the parsing work a body can cause."""


class TokenRequest(NamedTuple):
    """A well-formed JWT-bearer token request."""

    assertion: str
    scope: str | None = None

    def __repr__(self) -> str:  # the assertion is a credential: keep it out of logs
        return f"TokenRequest(scope={self.scope!r})"


class TokenGrant(NamedTuple):
    """The outcome of a successful exchange.

    ``response``: the RFC 6749 §5.1 JSON body. ``identity``: who the assertion proved.
    ``record``: what the service stores about the token (by ``jti``). ``assertion``: the verified
    assertion, for the audit log.
    """

    response: dict[str, Any]
    identity: Identity
    record: IssuedAccessToken
    assertion: VerifiedAssertion

    def __repr__(self) -> str:  # the response holds the access token
        return f"TokenGrant(identity={self.identity!r}, record={self.record!r})"


def parse_token_request(body: bytes) -> TokenRequest:
    """Read a form-encoded token request body (RFC 6749 §4.5, RFC 7523 §2.1).

    Raises :class:`~forcegate.errors.RequestError` (``invalid_request``) for a body over
    :data:`MAX_BODY_BYTES`, not UTF-8, malformed, with a repeated parameter, or without
    ``grant_type`` or ``assertion``; :class:`~forcegate.errors.UnsupportedGrantType` for any grant
    type but JWT bearer. A parameter with an empty value counts as omitted (RFC 6749 §3.1).
    """
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"request body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    return token_request(parse_form(body, max_fields=MAX_FIELDS))


def token_request(fields: Mapping[str, str]) -> TokenRequest:
    """The token request in already-parsed form fields (:func:`forcegate.core.form.parse_form`)."""
    grant_type = fields.get("grant_type")
    if not grant_type:
        raise RequestError("parameter 'grant_type' is missing")
    if grant_type != JWT_BEARER_GRANT_TYPE:
        raise UnsupportedGrantType(f"grant type {grant_type[:80]!r} is not supported; use {JWT_BEARER_GRANT_TYPE}")
    assertion = fields.get("assertion")
    if not assertion:
        raise RequestError("parameter 'assertion' is missing")
    return TokenRequest(assertion, fields.get("scope") or None)


async def prepare_grant(request: TokenRequest, *, verifier: AssertionVerifier, issuer: AccessTokenIssuer) -> TokenGrant:
    """Check the assertion and sign its access token, WITHOUT claiming its single use.

    The caller must then claim ``grant.assertion.replay_key`` until ``grant.assertion.replay_until``
    atomically (together with recording the token, ideally in one transaction) and release the
    response only if it won the claim; :func:`exchange` does exactly that with a replay store.
    Signing first costs one wasted signature per replay, and lets a store record the claim, the
    token and its audit event all at once.
    """
    assertion = await verifier.check(request.assertion, requested_scope=request.scope, source="jwt-bearer")
    identity = assertion.identity
    token, record = issuer.issue(identity, client_id=identity.issuer, lifetime=assertion.org.token_lifetime)
    response: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": int(record.expires_at - record.issued_at),
    }
    if record.scope:
        response["scope"] = record.scope
    return TokenGrant(response, identity, record, assertion)


async def exchange(
    request: TokenRequest,
    *,
    verifier: AssertionVerifier,
    issuer: AccessTokenIssuer,
    replay: ReplayClaimer,
) -> TokenGrant:
    """Verify the assertion, claim its single use, and issue an access token for it.

    The token's lifetime is the org's ``token_lifetime`` when set, else the issuer's default; its
    ``client_id`` is the assertion's issuer. ``scope`` is in the response unless no scope was
    granted (RFC 6749 §5.1). Raises what :meth:`AssertionVerifier.verify` raises.
    """
    grant = await prepare_grant(request, verifier=verifier, issuer=issuer)
    if not await replay.claim(grant.assertion.replay_key, grant.assertion.replay_until):
        raise grant.assertion.replayed()
    return grant
