"""One error hierarchy for all of forcegate.

Every rejection is a :class:`ForcegateError` subclass carrying

* ``code`` — a stable, machine-readable identifier of the failed check (``token_expired``,
  ``invalid_audience`` …). Scripts, logs and the audit trail key on it; it never changes once
  released.
* ``oauth_error`` — the RFC 6749 §5.2 / RFC 6750 §3.1 error this maps to at an HTTP edge. Responses
  say only this (``invalid_grant``); the precise ``code`` and ``reason`` go to logs.
* ``reason`` — a human sentence for logs and the CLI. It never contains a secret, a token or key
  material.

The tree::

    ForcegateError
    ├── ConfigurationError            bad settings or arguments given by the operator
    ├── InvalidSalesforceId
    ├── KeyMaterialError              unreadable / unsupported / weak keys and keystores
    │   ├── KeystorePasswordError
    │   └── WeakKeyError
    ├── CanvasError                   Canvas signed requests
    │   ├── MalformedSignedRequest
    │   ├── SignedRequestTooLarge
    │   ├── CanvasAlgorithmMismatch
    │   └── CanvasSignatureInvalid
    ├── TokenError                    JWS / JWT verification (oauth: invalid_grant)
    │   ├── MalformedToken
    │   ├── TokenTooLarge
    │   ├── UnsupportedAlgorithm
    │   ├── UnsupportedCriticalHeader
    │   ├── UnknownIssuer
    │   ├── KeyNotFound
    │   ├── InvalidSignature
    │   ├── MissingClaim
    │   ├── InvalidClaim
    │   ├── InvalidAudience
    │   ├── TokenExpired
    │   ├── TokenNotYetValid
    │   ├── TokenIssuedInFuture
    │   └── LifetimeTooLong
    └── SalesforceError               the emulated org side
        ├── InvalidAdditionalClaim
        └── TokenExchangeError        Auth.JWTBearerTokenExchange got a non-success answer
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CanvasAlgorithmMismatch",
    "CanvasError",
    "CanvasSignatureInvalid",
    "ConfigurationError",
    "ForcegateError",
    "InvalidAdditionalClaim",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidSalesforceId",
    "InvalidSignature",
    "KeyMaterialError",
    "KeyNotFound",
    "KeystorePasswordError",
    "LifetimeTooLong",
    "MalformedSignedRequest",
    "MalformedToken",
    "MissingClaim",
    "SalesforceError",
    "SignedRequestTooLarge",
    "TokenError",
    "TokenExchangeError",
    "TokenExpired",
    "TokenIssuedInFuture",
    "TokenNotYetValid",
    "TokenTooLarge",
    "UnknownIssuer",
    "UnsupportedAlgorithm",
    "UnsupportedCriticalHeader",
    "WeakKeyError",
]


class ForcegateError(Exception):
    """Base of every error forcegate raises on purpose."""

    code: ClassVar[str] = "forcegate_error"
    oauth_error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class ConfigurationError(ForcegateError):
    code = "configuration_error"
    oauth_error = "server_error"
    status = 500


class InvalidSalesforceId(ForcegateError):
    code = "invalid_salesforce_id"


class KeyMaterialError(ForcegateError):
    """A certificate, key or keystore cannot be read or is not usable."""

    code = "invalid_key_material"


class KeystorePasswordError(KeyMaterialError):
    code = "keystore_password"


class WeakKeyError(KeyMaterialError):
    """The key is of a type, size or exponent the policy refuses (RSA < 2048, e < 65537 …)."""

    code = "weak_key"


# --- Canvas ---------------------------------------------------------------------------------------


class CanvasError(ForcegateError):
    code = "canvas_error"
    oauth_error = "invalid_request"
    status = 401


class MalformedSignedRequest(CanvasError):
    code = "malformed_signed_request"


class SignedRequestTooLarge(CanvasError):
    code = "signed_request_too_large"
    status = 413


class CanvasAlgorithmMismatch(CanvasError):
    code = "canvas_algorithm_mismatch"


class CanvasSignatureInvalid(CanvasError):
    code = "canvas_signature_invalid"


# --- JWS / JWT --------------------------------------------------------------------------------------


class TokenError(ForcegateError):
    """A JWS or JWT was refused. At the token endpoint all of these are ``invalid_grant``."""

    code = "invalid_token"
    oauth_error = "invalid_grant"


class MalformedToken(TokenError):
    code = "malformed_token"


class TokenTooLarge(TokenError):
    code = "token_too_large"


class UnsupportedAlgorithm(TokenError):
    code = "unsupported_algorithm"


class UnsupportedCriticalHeader(TokenError):
    code = "unsupported_crit"


class UnknownIssuer(TokenError):
    code = "unknown_issuer"


class KeyNotFound(TokenError):
    code = "key_not_found"


class InvalidSignature(TokenError):
    code = "invalid_signature"


class MissingClaim(TokenError):
    code = "missing_claim"


class InvalidClaim(TokenError):
    code = "invalid_claim"


class InvalidAudience(TokenError):
    code = "invalid_audience"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenNotYetValid(TokenError):
    code = "token_not_yet_valid"


class TokenIssuedInFuture(TokenError):
    code = "issued_in_future"


class LifetimeTooLong(TokenError):
    code = "lifetime_too_long"


# --- the emulated Salesforce side -----------------------------------------------------------------


class SalesforceError(ForcegateError):
    code = "salesforce_error"


class InvalidAdditionalClaim(SalesforceError):
    """``Auth.JWT.setAdditionalClaims`` refuses standard claim names; so does the emulator."""

    code = "invalid_additional_claim"


class TokenExchangeError(SalesforceError):
    """The token endpoint did not answer 200 with a JSON ``access_token``.

    Apex turns a non-success answer of ``Auth.JWTBearerTokenExchange`` into an exception carrying
    the body; this carries ``status_code`` and ``body`` the same way.
    """

    code = "token_exchange_failed"

    def __init__(self, reason: str, *, status_code: int, body: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.body = body
