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
    │   └── NoStore                   no forcegate store where the settings point (nothing is created)
    ├── InvalidSalesforceId
    ├── KeyMaterialError              unreadable / unsupported / weak keys and keystores
    │   ├── KeystorePasswordError
    │   └── WeakKeyError
    ├── CanvasError                   Canvas signed requests
    │   ├── MalformedSignedRequest
    │   ├── SignedRequestTooLarge
    │   ├── CanvasAlgorithmMismatch
    │   ├── CanvasSignatureInvalid
    │   ├── UnknownApp                /canvas/{consumer_key} names no registered app
    │   ├── CanvasOrgRefused          the envelope's org is not registered or is disabled
    │   ├── CanvasOriginRefused       a cross-site POST: the page is not Salesforce's (login CSRF)
    │   └── CanvasSessionNotLive      liveness check: userinfo refused client.oauthToken or named another user
    ├── TokenError                    JWS / JWT verification (oauth: invalid_grant)
    │   ├── MalformedToken
    │   ├── TokenTooLarge
    │   ├── UnsupportedAlgorithm
    │   ├── UnsupportedCriticalHeader
    │   ├── UnexpectedTokenType       a token of another type (an access token, ``typ: at+jwt``) as an assertion
    │   ├── UnknownIssuer
    │   ├── KeyNotFound
    │   ├── InvalidSignature
    │   ├── MissingClaim
    │   ├── InvalidClaim
    │   ├── InvalidAudience
    │   ├── TokenExpired
    │   ├── TokenNotYetValid
    │   ├── TokenIssuedInFuture
    │   ├── LifetimeTooLong
    │   ├── OrgDisabled               the org is registered but disabled: refused on every path
    │   ├── IssuerNotAllowed          iss is a consumer key the named org does not allow
    │   ├── SubjectNotAllowed
    │   ├── ClaimsTooLarge            custom parameters beyond the size bound of an access token
    │   ├── AssertionReplayed         a single-use assertion presented a second time
    │   ├── EnrollmentCodeInvalid     a proof of possession with an unknown, wrong, used or expired enrollment code
    │   └── InvalidAccessToken        a bearer credential at the API (oauth: invalid_token, 401)
    │       ├── TokenRevoked
    │       └── InsufficientScope     (oauth: insufficient_scope, 403)
    ├── RequestError                  the HTTP request itself is wrong (oauth: invalid_request)
    │   ├── UnsupportedGrantType
    │   ├── InvalidScope
    │   ├── MalformedCredentials      an Authorization header that is not 'Bearer <token>'
    │   ├── EnrollmentSignInFailed    the enrollment's Salesforce sign-in: state, PKCE or code exchange refused
    │   └── InvalidInput              a registry field of the wrong type, size or form (the field is named)
    ├── AuthenticationRequired        a wrong admin / caller credential (401)
    │   └── NoCredentials             no credential at all (RFC 6750 §3.1: no error code in the challenge)
    ├── RegistryError                 trust-registry writes the operator asked for
    │   ├── NotFound
    │   ├── AlreadyExists
    │   │   └── CertificateShared     the certificate is trusted for another org and `shared` was not given
    │   ├── EnrollmentStateConflict   the enrollment is not in a state this step applies to (409)
    │   └── PolicyViolation           the registry's policy refuses the value (checked for every caller)
    │       ├── WeakSecret            a consumer secret that is empty, padded with spaces, or too short
    │       ├── CertificateExpired    a certificate past its notAfter
    │       ├── KeyAlgorithmMismatch  a certificate whose key fits none of the org's allowed algorithms
    │       └── NotOrgAdministrator   the signed-in Salesforce user may not administer the integration (403)
    ├── StoreUnavailable              a store the request needs is down: refuse (503)
    ├── RateLimited                   the org spent its per-minute budget of assertions (429, slow_down)
    └── SalesforceError               the emulated org side, and calls to Salesforce
        ├── InvalidAdditionalClaim
        ├── TokenExchangeError        Auth.JWTBearerTokenExchange got a non-success answer
        ├── ConnectedAppMetadataError a .connectedApp-meta.xml file that cannot be used
        ├── SalesforceUnavailable     no usable answer from Salesforce (network, 5xx, not JSON)
        └── SalesforceLoginError      Salesforce refused the JWT bearer login (error, error_description)
            ├── SalesforceClientUnknown        invalid_client_id: no Connected App has this consumer key
            ├── SalesforceAssertionRejected    "invalid assertion", "Invalid JWT format"
            ├── SalesforceAudienceInvalid      "audience is invalid"
            ├── SalesforceAssertionExpired     "expired authorization code"
            └── SalesforceUserNotApproved      "user hasn't approved this consumer", "…not admin approved…"
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlreadyExists",
    "AssertionReplayed",
    "AuthenticationRequired",
    "CanvasAlgorithmMismatch",
    "CanvasError",
    "CanvasOrgRefused",
    "CanvasOriginRefused",
    "CanvasSessionNotLive",
    "CanvasSignatureInvalid",
    "CertificateExpired",
    "CertificateShared",
    "ClaimsTooLarge",
    "ConfigurationError",
    "ConnectedAppMetadataError",
    "EnrollmentCodeInvalid",
    "EnrollmentSignInFailed",
    "EnrollmentStateConflict",
    "ForcegateError",
    "InsufficientScope",
    "InvalidAccessToken",
    "InvalidAdditionalClaim",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidInput",
    "InvalidSalesforceId",
    "InvalidScope",
    "InvalidSignature",
    "IssuerNotAllowed",
    "KeyAlgorithmMismatch",
    "KeyMaterialError",
    "KeyNotFound",
    "KeystorePasswordError",
    "LifetimeTooLong",
    "MalformedCredentials",
    "MalformedSignedRequest",
    "MalformedToken",
    "MissingClaim",
    "NoCredentials",
    "NoStore",
    "NotFound",
    "NotOrgAdministrator",
    "OrgDisabled",
    "PolicyViolation",
    "RateLimited",
    "RegistryError",
    "RequestError",
    "SalesforceAssertionExpired",
    "SalesforceAssertionRejected",
    "SalesforceAudienceInvalid",
    "SalesforceClientUnknown",
    "SalesforceError",
    "SalesforceLoginError",
    "SalesforceUnavailable",
    "SalesforceUserNotApproved",
    "SignedRequestTooLarge",
    "StoreUnavailable",
    "SubjectNotAllowed",
    "TokenError",
    "TokenExchangeError",
    "TokenExpired",
    "TokenIssuedInFuture",
    "TokenNotYetValid",
    "TokenRevoked",
    "TokenTooLarge",
    "UnexpectedTokenType",
    "UnknownApp",
    "UnknownIssuer",
    "UnsupportedAlgorithm",
    "UnsupportedCriticalHeader",
    "UnsupportedGrantType",
    "WeakKeyError",
    "WeakSecret",
]


class ForcegateError(Exception):
    """Base of every error forcegate raises on purpose.

    ``verified``: the refused credential's signature (or HMAC) had verified before this check failed,
    so the org it names really sent it. False (the default) for a refusal of something anyone could
    have sent: the audit log marks it unverified, and bounds how many such rows one client can write.
    """

    code: ClassVar[str] = "forcegate_error"
    oauth_error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400
    verified: bool = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class ConfigurationError(ForcegateError):
    code = "configuration_error"
    oauth_error = "server_error"
    status = 500


class NoStore(ConfigurationError):
    """The settings name a place with no forcegate store: only ``forcegate init`` and ``serve`` create one."""

    code = "no_store"


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


class UnknownApp(CanvasError):
    code = "unknown_app"


class CanvasOrgRefused(CanvasError):
    """The signed request verified, but its org is disabled, or unregistered and the app wants registered orgs."""

    code = "canvas_org_refused"
    status = 403
    verified = True


class CanvasOriginRefused(CanvasError):
    """The browser says the POST came from a page that is not Salesforce's (its ``Origin``): someone
    else's page may not sign a user in with a signed request it holds (login CSRF)."""

    code = "canvas_origin_refused"
    status = 403


class CanvasSessionNotLive(CanvasError):
    """The optional liveness check failed: Salesforce's userinfo did not confirm the envelope's session.

    The signed request verified, but ``client.oauthToken`` is no longer a live session (logged out,
    expired, revoked), or belongs to another org or user than the envelope says.
    """

    code = "canvas_session_not_live"
    verified = True


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


class UnexpectedTokenType(TokenError):
    """RFC 8725 §3.11: the header's ``typ`` names another kind of token (one of our access tokens)."""

    code = "unexpected_token_type"


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


class OrgDisabled(TokenError):
    code = "org_disabled"


class IssuerNotAllowed(TokenError):
    code = "issuer_not_allowed"


class SubjectNotAllowed(TokenError):
    code = "subject_not_allowed"


class ClaimsTooLarge(TokenError):
    code = "claims_too_large"


class AssertionReplayed(TokenError):
    """The single-use key of this assertion was already claimed: a replay, or a retry of a used one."""

    code = "assertion_replayed"
    verified = True


class EnrollmentCodeInvalid(TokenError):
    """A proof of possession whose enrollment code is unknown, wrong, already used or expired, or whose
    enrollment is not waiting for a proof. One code for all of them: the caller learns nothing about
    which enrollments exist (the reason, in the log, says which)."""

    code = "enrollment_code_invalid"


class InvalidAccessToken(TokenError):
    """RFC 6750 §3.1 ``invalid_token``: the bearer credential presented to a protected resource is refused."""

    code = "invalid_access_token"
    oauth_error = "invalid_token"
    status = 401


class TokenRevoked(InvalidAccessToken):
    code = "token_revoked"


class InsufficientScope(InvalidAccessToken):
    code = "insufficient_scope"
    oauth_error = "insufficient_scope"
    status = 403


# --- the HTTP request, the registry, the stores ----------------------------------------------------


class RequestError(ForcegateError):
    """RFC 6749 §5.2 ``invalid_request``: a parameter is missing, repeated or malformed."""

    code = "invalid_request"


class UnsupportedGrantType(RequestError):
    code = "unsupported_grant_type"
    oauth_error = "unsupported_grant_type"


class InvalidScope(RequestError):
    code = "invalid_scope"
    oauth_error = "invalid_scope"


class MalformedCredentials(RequestError):
    """An ``Authorization`` header that is not ``Bearer <token>`` (RFC 6750 §2.1): the same 400 at every endpoint."""

    code = "malformed_credentials"


class EnrollmentSignInFailed(RequestError):
    """The enrollment's Salesforce sign-in failed: no or another ``state``, a PKCE verifier Salesforce
    refused, a login host that is not allowed, an answer from Salesforce that cannot be used."""

    code = "enrollment_sign_in_failed"


class InvalidInput(RequestError):
    """A value given to the registry (by the CLI, the admin API or the console) of the wrong type,
    size or form; the reason names the field."""

    code = "invalid_input"


class AuthenticationRequired(ForcegateError):
    """The caller presented a credential that does not open this endpoint (a wrong admin token, a
    session that ended, a holder revoking another's token)."""

    code = "authentication_required"
    oauth_error = "invalid_token"
    status = 401


class NoCredentials(AuthenticationRequired):
    """The request carried no credential at all (not a wrong one)."""

    code = "no_credentials"


class RegistryError(ForcegateError):
    code = "registry_error"


class NotFound(RegistryError):
    code = "not_found"
    status = 404


class AlreadyExists(RegistryError):
    code = "already_exists"
    status = 409


class CertificateShared(AlreadyExists):
    """The certificate is already trusted for another org. Any org holding its key could then sign
    as the others, so trusting it twice must be asked for explicitly (``shared``)."""

    code = "certificate_shared"


class EnrollmentStateConflict(RegistryError):
    """The enrollment is not in a state this step applies to (approving a rejected one, proving an
    active one); nothing was changed."""

    code = "enrollment_state_conflict"
    status = 409


class PolicyViolation(RegistryError):
    """The registry's policy refuses this value, whichever entry (CLI, admin API, console) it came through."""

    code = "policy_violation"


class WeakSecret(PolicyViolation):
    code = "weak_secret"


class CertificateExpired(PolicyViolation):
    code = "certificate_expired"


class KeyAlgorithmMismatch(PolicyViolation):
    code = "key_algorithm_mismatch"


class NotOrgAdministrator(PolicyViolation):
    """The signed-in Salesforce user holds neither "Customize Application" nor "Modify All Data" in
    their org: they may not enroll certificates for it (docs/onboarding.md)."""

    code = "not_org_administrator"
    status = 403


class StoreUnavailable(ForcegateError):
    """A store the request depends on cannot be reached: the service refuses rather than guess."""

    code = "store_unavailable"
    oauth_error = "temporarily_unavailable"
    status = 503


class RateLimited(ForcegateError):
    """The org (of a verified assertion) has used up ``token_rate_limit`` for the current minute.

    Not a :class:`TokenError`: the assertion is fine and was not consumed, so the caller may send it
    again after ``retry_after`` seconds (the end of the window) if it is still valid.
    """

    code = "rate_limited"
    oauth_error = "slow_down"
    status = 429
    verified = True

    def __init__(self, reason: str, *, retry_after: int, limit: str = "assertions") -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        #: Which limit refused: ``assertions`` (``token_rate_limit``) or ``failures`` (``failure_rate_limit``).
        self.limit = limit


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


class ConnectedAppMetadataError(SalesforceError):
    """Connected App metadata that is malformed, has a DTD, another root element, or no consumer key."""

    code = "invalid_connected_app_metadata"


class SalesforceUnavailable(SalesforceError):
    """Salesforce could not be reached, or answered with something other than its documented JSON."""

    code = "salesforce_unavailable"
    oauth_error = "temporarily_unavailable"
    status = 503


class SalesforceLoginError(SalesforceError):
    """Salesforce answered the JWT bearer login with an OAuth error.

    ``error`` and ``error_description`` are Salesforce's fields as received (e.g. ``invalid_grant``,
    "user hasn't approved this consumer"); ``status_code`` is the HTTP status. The subclasses name
    the common causes, so callers can tell a setup problem from a clock problem.
    """

    code = "salesforce_login_refused"
    oauth_error = "server_error"
    status = 502

    def __init__(self, reason: str, *, error: str, error_description: str, status_code: int) -> None:
        super().__init__(reason)
        self.error = error
        self.error_description = error_description
        self.status_code = status_code


class SalesforceClientUnknown(SalesforceLoginError):
    """``invalid_client_id``: the ``iss`` (consumer key) names no Connected App in that org."""

    code = "salesforce_client_unknown"


class SalesforceAssertionRejected(SalesforceLoginError):
    """The assertion's signature or format was refused: wrong key or certificate, or a malformed JWT."""

    code = "salesforce_assertion_rejected"


class SalesforceAudienceInvalid(SalesforceLoginError):
    """``aud`` is not the login URL the assertion was sent to (login, test or My Domain)."""

    code = "salesforce_audience_invalid"


class SalesforceAssertionExpired(SalesforceLoginError):
    """The assertion had expired on arrival: usually a clock difference."""

    code = "salesforce_assertion_expired"


class SalesforceUserNotApproved(SalesforceLoginError):
    """The user has not approved the Connected App, or is not admin-approved (pre-authorized) for it."""

    code = "salesforce_user_not_approved"
