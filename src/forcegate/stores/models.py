"""Records the stores hold: registry entries, single-use claims, issued tokens, sessions, audit events.

Every record is a frozen dataclass. Fields holding a secret (a consumer secret, a private key) are
kept out of ``repr`` so a record can be logged; stores keep those fields encrypted at rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from cryptography import x509

from forcegate.core.access_token import IssuedAccessToken as IssuedToken
from forcegate.core.identity import Identity
from forcegate.core.trusted_key import TrustedKey

__all__ = [
    "CONSUMER_KEY_PATTERN",
    "DEFAULT_ORG_ALGORITHMS",
    "OPEN_ENROLLMENT_STATES",
    "App",
    "AppSecret",
    "AuditEvent",
    "CertificateRecord",
    "CertificateState",
    "Enrollment",
    "EnrollmentState",
    "IssuedCheck",
    "IssuedToken",
    "Org",
    "OrgPolicy",
    "Session",
    "SignIn",
    "SigningKey",
]

CertificateState = Literal["active", "retired"]
#: An enrollment's life: ``pending_proof`` -> (``approved``) -> ``pending_approval`` -> ``active``, or
#: ``rejected`` / ``expired`` (see :class:`Enrollment`).
EnrollmentState = Literal["pending_proof", "approved", "pending_approval", "active", "rejected", "expired"]
#: The states an enrollment can still move on from.
OPEN_ENROLLMENT_STATES: tuple[EnrollmentState, ...] = ("pending_proof", "approved", "pending_approval")

#: What an org's assertions may be signed with unless it is set otherwise: ``Auth.JWS`` signs RS256 only.
DEFAULT_ORG_ALGORITHMS: tuple[str, ...] = ("RS256",)

#: A consumer key is a path segment of ``/canvas/{consumer_key}``: RFC 3986 unreserved characters
#: only. Salesforce's keys are letters, digits, '.' and '_'.
CONSUMER_KEY_PATTERN = re.compile(r"[A-Za-z0-9._~-]{1,255}")
# A Salesforce developer name (a letter, then letters, digits and single underscores, not ending in
# one), optionally behind a namespace prefix and its double underscore, as ``ns__Name``.
CANVAS_NAME_PATTERN = re.compile(r"(?:[A-Za-z][A-Za-z0-9]{0,14}__)?[A-Za-z](?:[A-Za-z0-9]|_(?!_)){0,79}(?<!_)")


@dataclass(frozen=True, slots=True, kw_only=True)
class App:
    """A Connected App whose Canvas signed requests the service accepts.

    ``any_org``: accept Canvas requests from orgs that are not in the registry (the legacy Canvas
    trust model, where the consumer secret alone vouches). Off by default: only registered, enabled
    orgs get in. A registered but disabled org is refused either way.

    ``canvas_name``: the Canvas app's developer name (``ns__Name`` in a managed package), which signed
    requests name in ``context.application``: a request to the shared ``/canvas`` endpoint is
    checked against the secrets of the app it names only.
    """

    consumer_key: str
    name: str
    any_org: bool = False
    created_at: float = 0.0
    canvas_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AppSecret:
    """One consumer secret of an app. Several are active during a rotation; newest first."""

    id: int
    consumer_key: str
    secret: str = field(repr=False)
    created_at: float
    active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgPolicy:
    """Per-org overrides of the service-wide settings (``None`` keeps the service default)."""

    max_assertion_lifetime: int | None = None
    token_lifetime: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Org:
    """A Salesforce org the service trusts.

    ``issuers``: the ``iss`` values this org's assertions may carry; empty means the org id itself
    (Apex's usual choice). A consumer key in this list lets assertions issued under that Connected App
    name this org in the ``org_id`` claim. ``subjects``: ``None`` accepts any ``sub``, else only those
    listed. ``scopes``: what tokens for this org may carry. ``algorithms``: the JWS algorithms its
    assertions may use (``RS256``, what ``Auth.JWS`` signs with, unless the org is set otherwise).
    """

    org_id: str
    name: str = ""
    enabled: bool = True
    issuers: tuple[str, ...] = ()
    subjects: tuple[str, ...] | None = None
    scopes: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ORG_ALGORITHMS
    policy: OrgPolicy = OrgPolicy()
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def allowed_issuers(self) -> frozenset[str]:
        return frozenset(self.issuers) if self.issuers else frozenset({self.org_id})


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRecord:
    """A certificate registered for an org (public material only: Salesforce keeps the private key).

    ``shared``: the same certificate is trusted for other orgs too, on purpose. Any org holding its
    private key can then sign as each of them, so the registry flags it wherever it is shown.
    ``retire_at``: a rotation replaced it; it stays trusted until then (the overlap), ``None`` when no
    retirement is scheduled. ``key_sha256``: SHA-256 of its public key (SubjectPublicKeyInfo), the same
    for every certificate of one key.
    """

    id: int
    org_id: str
    label: str
    der: bytes = field(repr=False)
    sha256_fingerprint: str
    x5t_s256: str
    subject: str
    not_before: float
    not_after: float
    state: CertificateState = "active"
    created_at: float = 0.0
    shared: bool = False
    retire_at: float | None = None
    key_sha256: str | None = None

    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    def trusted_at(self, now: float) -> bool:
        """Whether assertions signed with it are accepted at ``now``: active, and its overlap not over."""
        return self.state == "active" and (self.retire_at is None or now < self.retire_at)

    def trusted_key(self) -> TrustedKey:
        return TrustedKey.from_certificate(self.certificate(), label=self.label or self.subject)


class IssuedCheck(NamedTuple):
    """What the token store says of an access token's ``jti`` on an API call: the record MAC kept when
    it was issued (None: no record, a record from before schema 11, or a backend that keeps
    revocations apart from the records), whether it was revoked, and the registry generation read in
    the same snapshot (decision 0031; None only where no lookup was made: a token without a ``jti``)."""

    mac: str | None
    revoked: bool
    generation: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A server-side session opened by a Canvas signed request; the cookie carries only a random id.

    ``id_hash`` is the SHA-256 (hex) of that id: the store never holds a usable session credential.
    ``app_secret_id``: the consumer secret that signed the request it was opened with (retiring that
    secret ends the session); ``None`` for sessions stored before the schema knew it.
    """

    id_hash: str
    identity: Identity
    created_at: float
    expires_at: float
    app_secret_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningKey:
    """A key the service signs access tokens with; ``private_pem`` is PKCS#8 PEM (encrypted at rest)."""

    kid: str
    algorithm: str
    private_pem: bytes = field(repr=False)
    created_at: float
    active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One authentication decision.

    ``credential``: ``jwt-bearer`` (token endpoint), ``jwt`` (direct Apex JWT), ``access-token``,
    ``canvas``, ``session``, ``admin``. ``result``: ``allowed`` or ``denied``. ``code``: ``ok`` or the
    stable code of the check that failed; ``detail``: the precise reason (never a secret or token).
    ``verified``: False for a refusal filed under the org (and issuer, subject) the credential only
    *claimed*: nothing about it was verified, anyone could have sent it.
    """

    at: float
    endpoint: str
    credential: str
    result: Literal["allowed", "denied"]
    code: str
    detail: str = ""
    org_id: str | None = None
    user_id: str | None = None
    subject: str | None = None
    issuer: str | None = None
    client: str | None = None
    id: int | None = None
    verified: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrollment:
    """A subscriber admin's request that the registry trust a certificate for their org (issue 14).

    ``state``: ``pending_proof`` until an assertion signed with the certificate's key and carrying the
    enrollment code arrives; ``approved`` when the ISV approved it before that proof; then
    ``pending_approval`` (proven, waiting for the ISV) or ``active`` (the certificate is trusted);
    ``rejected`` or ``expired`` (the code lapsed, or a newer enrollment of the same certificate
    replaced this one) end it. ``code_digest``: the SHA-256 (hex) of the one-time enrollment code,
    which is never stored. ``decided_by``: who approved or rejected it (``cli``, ``admin-api``,
    ``policy:auto``, ``policy:listed``, ``policy:rotation``). ``replaces_fingerprint``: for a
    rotation, the trusted certificate whose key signed the request (it retires after the overlap);
    ``None`` for an enrollment by sign-in.
    """

    enrollment_id: str
    org_id: str
    user_id: str
    username: str
    certificate_der: bytes = field(repr=False)
    sha256_fingerprint: str
    state: EnrollmentState
    code_digest: str = field(repr=False)
    code_expires_at: float
    proven_at: float | None = None
    decided_by: str | None = None
    reason: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    replaces_fingerprint: str | None = None

    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignIn:
    """A subscriber admin's Salesforce sign-in at ``/enroll``, server-side; the browser holds a random value.

    ``id_hash``: SHA-256 (hex) of that value; ``state_hash``: of the OAuth ``state``. ``login_url``:
    where the admin signs in (``https://login.salesforce.com``, a My Domain). ``org_id``,
    ``user_id``, ``username``: None until the callback completed the sign-in.
    """

    id_hash: str
    state_hash: str = field(repr=False)
    login_url: str
    created_at: float
    expires_at: float
    org_id: str | None = None
    user_id: str | None = None
    username: str | None = None

    @property
    def completed(self) -> bool:
        return self.org_id is not None
