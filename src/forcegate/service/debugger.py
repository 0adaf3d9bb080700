"""The console's token debugger: decode a pasted credential and judge it against the registry, dry.

A dry run is every check the live path makes, through the same code — the assertion verifier's
:meth:`~forcegate.core.assertion.AssertionVerifier.check` (the token endpoint's checks but the
single-use claim) and :func:`~forcegate.service.canvas.verify_canvas_request` (the Canvas endpoint's
checks but the session and Salesforce's liveness call) — and nothing else:

* **not spent**: the single-use claim is not made and no rate-limit counter is touched, so an
  assertion checked here can still be used for real;
* **not stored or logged**: no audit event, no failure count, no log line names it; the verdict goes
  back to the operator only.

What the dry run cannot know without spending it is whether the assertion was already used: the
verdict says so (``single_use``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from forcegate.core._b64 import b64_decode_lenient, b64url_decode
from forcegate.errors import ForcegateError, MalformedToken
from forcegate.service.authentication import AuthenticationService
from forcegate.service.canvas import verify_canvas_request

__all__ = ["CHECKS", "MAX_PASTE", "DryRun", "dry_run"]

#: The longest text the debugger takes (a Canvas signed request with a large context is tens of KiB).
MAX_PASTE = 256 * 1024

#: What each refusal code means as a check, for the verdict's "failed check" line.
CHECKS: dict[str, str] = {
    "malformed_token": "format (compact JWS: header.payload.signature)",
    "token_too_large": "size",
    "unsupported_algorithm": "algorithm (header alg, and the org's allowed algorithms)",
    "unexpected_token_type": "token type (typ)",
    "unknown_issuer": "issuer (iss is a registered org or consumer key)",
    "issuer_not_allowed": "issuer allowed for the org",
    "org_disabled": "org enabled",
    "key_not_found": "key (a certificate of the org valid now, matching kid/x5t#S256)",
    "invalid_signature": "signature",
    "invalid_audience": "audience (aud)",
    "token_expired": "expiry (exp)",
    "token_not_yet_valid": "not before (nbf)",
    "token_issued_in_future": "issued at (iat)",
    "lifetime_too_long": "lifetime (exp - iat within the cap)",
    "missing_claim": "required claim",
    "invalid_claim": "claim value",
    "subject_not_allowed": "subject (sub in the org's list)",
    "invalid_scope": "scope",
    "malformed_signed_request": "format (signature.envelope)",
    "signed_request_too_large": "size",
    "canvas_algorithm_mismatch": "algorithm (HMACSHA256)",
    "canvas_signature_invalid": "signature (HMAC with a registered consumer secret)",
    "unknown_app": "app (a registered consumer key)",
    "canvas_org_refused": "org (registered, enabled, bound to the app)",
}


@dataclass(frozen=True, slots=True)
class DryRun:
    """What the debugger shows. ``kind``: ``jwt`` or ``canvas``. ``decoded``: the header and claims
    (JWT) or the envelope (Canvas) as sent, unverified. ``ok``: every check passed; else ``code``,
    ``reason`` and ``check`` name the first that failed."""

    kind: Literal["jwt", "canvas"]
    decoded: dict[str, Any]
    ok: bool
    code: str = "ok"
    reason: str = ""
    check: str = ""
    org_id: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _kind(text: str) -> Literal["jwt", "canvas"]:
    dots = text.count(".")
    if dots == 2:
        return "jwt"
    if dots >= 1:  # base64 (not base64url) may carry no dot itself: signature.envelope
        return "canvas"
    raise MalformedToken("neither a JWT (header.payload.signature) nor a Canvas signed request (signature.envelope)")


def _json_part(segment: bytes) -> Any:
    try:
        return orjson.loads(segment)
    except orjson.JSONDecodeError:
        return None


def _decode_jwt(text: str) -> dict[str, Any]:
    header, payload, _ = text.split(".")
    decoded: dict[str, Any] = {}
    for name, segment in (("header", header), ("claims", payload)):
        try:
            decoded[name] = _json_part(b64url_decode(segment))
        except ValueError:
            decoded[name] = None
    return decoded


def _decode_canvas(text: str) -> dict[str, Any]:
    _, _, payload = text.partition(".")
    try:
        envelope = _json_part(b64_decode_lenient(payload))
    except ValueError:
        envelope = None
    if isinstance(envelope, dict):
        # The OAuth token Salesforce puts in the envelope is a live credential: never shown back.
        client = envelope.get("client")
        if isinstance(client, dict):
            envelope = {**envelope, "client": {**client, **dict.fromkeys(("oauthToken", "refreshToken"), "(hidden)")}}
    return {"envelope": envelope}


def _refused(
    kind: Literal["jwt", "canvas"], decoded: dict[str, Any], exc: ForcegateError, notes: tuple[str, ...]
) -> DryRun:
    return DryRun(kind, decoded, False, exc.code, exc.reason, CHECKS.get(exc.code, exc.code), notes=notes)


async def dry_run(service: AuthenticationService, text: str, *, consumer_key: str | None = None) -> DryRun:
    """Decode ``text`` (a JWT or a Canvas signed request) and judge it as the live path would, dry."""
    text = text.strip()
    if not text:
        raise MalformedToken("paste a JWT or a Canvas signed request")
    if len(text) > MAX_PASTE:
        raise MalformedToken(f"longer than {MAX_PASTE} characters")
    kind = _kind(text)
    if kind == "jwt":
        decoded = _decode_jwt(text)
        notes = ("single use not checked: the dry run does not claim the assertion, which stays usable",)
        try:
            verified = await _check_jwt(service, text)
        except ForcegateError as exc:
            return _refused(kind, decoded, exc, notes)
        return DryRun(kind, decoded, True, org_id=verified, notes=notes)
    decoded = _decode_canvas(text)
    notes = ("no session opened; Salesforce's liveness check (if configured) is not called",)
    try:
        verified_canvas = await verify_canvas_request(service, text, consumer_key=consumer_key or None)
    except ForcegateError as exc:
        return _refused(kind, decoded, exc, notes)
    return DryRun(kind, decoded, True, org_id=verified_canvas.request.organization_id, notes=notes)


async def _check_jwt(service: AuthenticationService, token: str) -> str:
    """The token endpoint's checks but the single-use claim (and no rate-limit hit); the org's id."""
    await service.refresh()
    verified = await service.assertions.check(token, source="jwt-bearer")
    return verified.org.org_id
