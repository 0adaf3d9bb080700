"""The narrow storage interfaces the service depends on (see docs/architecture.md).

Each is a :class:`typing.Protocol` of a few async methods. The embedded default implements them on
SQLite (:mod:`forcegate.stores.sqlite`); the scale-out backends implement the same Protocols and
pass the same contract tests (``tests/stores``). Any backend raises
:class:`~forcegate.errors.StoreUnavailable` when it cannot reach its server, so the service fails
closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from cryptography import x509

from forcegate.stores.models import (
    App,
    AppSecret,
    AuditEvent,
    CertificateRecord,
    CertificateState,
    Enrollment,
    EnrollmentState,
    IssuedCheck,
    IssuedToken,
    Org,
    OrgPolicy,
    Session,
    SignIn,
    SigningKey,
)
from forcegate.stores.notification_rows import Notification, NotificationState
from forcegate.stores.rate_hit import RateHit

if TYPE_CHECKING:  # console_rows imports values, which imports this module
    from forcegate.stores.console_rows import (
        ActivityRow,
        AuditFilter,
        ConsoleSession,
        MigrationCategory,
        MigrationCounts,
        MigrationOrg,
        Operator,
        OrgSearch,
        SignInFailures,
    )

__all__ = [
    "UNSET",
    "AuditLog",
    "ConsoleStore",
    "EnrollmentStore",
    "GrantRecorder",
    "NotificationStore",
    "RateCounter",
    "ReplayCache",
    "ServiceKeyStore",
    "SessionStore",
    "TokenStore",
    "TrustStore",
]


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


#: "leave this field as it is" in :meth:`TrustStore.update_org`.
UNSET = _Unset()


class TrustStore(Protocol):
    """The trust registry: apps (consumer secrets), orgs and their certificates.

    Every write bumps :meth:`generation` in the same transaction, so a process caching the registry
    sees any change (made by another worker or by the CLI) on its next request. Writes are atomic:
    a failed write changes nothing.
    """

    async def generation(self) -> int: ...

    async def add_app(
        self, *, consumer_key: str, name: str, secret: str, any_org: bool = False, canvas_name: str | None = None
    ) -> App: ...
    async def set_canvas_name(self, consumer_key: str, canvas_name: str | None) -> App:
        """Set (or, with None, forget) the app's Canvas developer name; :class:`NotFound` if no such app."""
        ...

    async def get_app(self, consumer_key: str) -> App | None: ...
    async def list_apps(self) -> Sequence[App]: ...
    async def delete_app(self, consumer_key: str) -> None: ...
    async def app_secrets(self, consumer_key: str) -> Sequence[AppSecret]:
        """Active secrets of the app, newest first (decrypted)."""
        ...

    async def add_app_secret(self, consumer_key: str, secret: str, *, keep_previous: int = 1) -> AppSecret:
        """Make ``secret`` the current secret; keep the ``keep_previous`` newest older ones active, retire the rest."""
        ...

    async def retire_app_secret(self, consumer_key: str, secret_id: int) -> None: ...

    async def add_org(self, org: Org, *, apps: Sequence[str] = ()) -> Org:
        """Register ``org``, bound to the Canvas apps ``apps`` (consumer keys; an unknown one is
        :class:`NotFound` and nothing is written)."""
        ...

    async def get_org(self, org_id: str) -> Org | None: ...
    async def list_orgs(self, *, limit: int = 1000, after: str | None = None) -> Sequence[Org]:
        """Orgs ordered by id; ``after`` pages."""
        ...

    async def update_org(
        self,
        org_id: str,
        *,
        name: str | object = UNSET,
        enabled: bool | object = UNSET,
        issuers: Sequence[str] | object = UNSET,
        subjects: Sequence[str] | object | None = UNSET,
        scopes: Sequence[str] | object = UNSET,
        algorithms: Sequence[str] | object = UNSET,
        policy: OrgPolicy | object = UNSET,
        apps: Sequence[str] | object = UNSET,
    ) -> Org:
        """Change the given fields; ``apps`` replaces the org's Canvas app bindings. One transaction."""
        ...

    async def bind_app(self, org_id: str, consumer_key: str) -> None:
        """Bind one more Canvas app to the org (binding it twice is not an error). One transaction."""
        ...

    async def org_apps(self, org_id: str) -> Sequence[str]:
        """The consumer keys of the Canvas apps bound to the org, sorted."""
        ...

    async def app_orgs(self, consumer_key: str, *, limit: int = 1000, after: str | None = None) -> Sequence[str]:
        """The orgs bound to the app, by id; ``after`` pages."""
        ...

    async def app_binding_counts(self) -> dict[str, int]:
        """How many orgs each app is bound to (apps bound to none are absent)."""
        ...

    async def delete_org(self, org_id: str) -> None: ...

    async def add_certificate(
        self, org_id: str, certificate: x509.Certificate, *, label: str = "", shared: bool = False
    ) -> CertificateRecord:
        """Register a certificate (active); see :meth:`add_certificates`."""
        ...

    async def add_certificates(
        self, org_id: str, certificates: Sequence[tuple[x509.Certificate, str]], *, shared: bool = False
    ) -> Sequence[CertificateRecord]:
        """Register ``(certificate, label)`` pairs for an org (active), all in one transaction or none.

        The same certificate twice for one org is :class:`AlreadyExists`. One already registered for
        another org is :class:`CertificateShared` unless ``shared``; with ``shared``, every record of
        that certificate (this org's and the others') is marked shared. The check and the write are
        one transaction, so two orgs adding the same certificate at once cannot both miss each other.
        """
        ...

    async def certificate_holders(self, fingerprint: str, *, key_sha256: str | None = None) -> Sequence[str]:
        """The org ids that hold the certificate with this full SHA-256 hex fingerprint — or, given
        ``key_sha256``, any certificate of that key — sorted, each once."""
        ...

    async def list_certificates(self, org_id: str, *, include_retired: bool = True) -> Sequence[CertificateRecord]: ...
    async def certificates_expiring(self, before: Sequence[float]) -> Sequence[int]:
        """For each time in ``before``, how many active certificates of enabled orgs expire before it
        (``not_after`` < the time); one query, whatever the registry's size (the metrics' gauge)."""
        ...

    async def expiring_certificates(self, before: float, *, limit: int = 1000) -> Sequence[CertificateRecord]:
        """Active certificates of enabled orgs whose ``not_after`` is before ``before`` (expired ones
        included), soonest first, at most ``limit`` (the expiry watch)."""
        ...

    async def set_certificate_state(self, org_id: str, fingerprint: str, state: CertificateState) -> CertificateRecord:
        """``fingerprint``: the SHA-256 hex fingerprint (a unique prefix of at least 8 hex digits is accepted).
        Ends any overlap a rotation scheduled (``retire_at`` cleared)."""
        ...

    async def retire_due_certificates(self, now: float) -> int:
        """Retire the active certificates whose rotation overlap ended (``retire_at`` <= ``now``); how many.
        The verifiers stop trusting them at ``retire_at`` already; this keeps the listings true."""
        ...


class ReplayCache(Protocol):
    """Single use, as ONE atomic operation (insert-if-absent; Redis ``SET NX``), never check-then-mark."""

    async def claim(self, key: str, expires_at: float, *, now: float | None = None) -> bool:
        """Claim ``key`` until ``expires_at``; True if this call claimed it, False if it was already claimed.

        A claim whose ``expires_at`` is before ``now`` has lapsed and can be claimed again. ``now`` is
        the caller's clock (pass it when the caller's clock is injected); default: the wall clock.
        """
        ...

    async def purge(self, now: float) -> int:
        """Forget claims that expired before ``now``; return how many."""
        ...


class RateCounter(Protocol):
    """Fixed-window hit counters (per-org rate limits), shared by every worker of a deployment."""

    async def hit(self, key: str, window_start: float, window_seconds: int, *, now: float) -> int:
        """Count one hit on ``key`` in the window starting at ``window_start``; return the window's
        count including this hit.

        ONE atomic operation (one statement, one script): concurrent hits from any number of workers
        each get a distinct count, so exactly ``limit`` of them see a count within the limit. The
        window lasts ``window_seconds``; ``now`` (the caller's clock) only sets how long a backend
        that expires entries by itself keeps the counter.
        """
        ...

    async def refund(self, key: str, window_start: float) -> None:
        """Take back one hit on ``key`` in that window (never below zero; nothing if it is gone):
        for a hit whose attempt then proved to be a replay, which must not spend the budget."""
        ...

    async def purge(self, now: float) -> int:
        """Forget counters whose window ended before ``now``; return how many."""
        ...


class TokenStore(Protocol):
    """Issued access tokens (by ``jti``) and revocations."""

    async def record_issued(self, token: IssuedToken) -> None: ...
    async def get_issued(self, jti: str) -> IssuedToken | None: ...
    async def revoke(self, jti: str, expires_at: float) -> None: ...
    async def is_revoked(self, jti: str) -> bool: ...

    async def check_issued(self, jti: str) -> IssuedCheck:
        """What an API call needs of token ``jti``: its record MAC and whether it was revoked, in one
        lookup where the backend keeps both together (``mac`` None where it does not); and the registry
        generation in the same snapshot (the registry and the revocations share a database on every
        backend, decision 0032): it is the API call's generation check. Decisions 0025 and 0031."""
        ...

    async def purge(self, now: float) -> int: ...


class GrantRecorder(Protocol):
    """The token endpoint's one write: claim the assertion, record the token, audit the decision.

    All or nothing (one transaction on SQL, one statement on PostgreSQL): a token never leaves without
    its record and audit row, and a failed write does not burn the assertion.
    """

    async def record_grant(
        self,
        *,
        replay_key: str,
        replay_until: float,
        token: IssuedToken,
        event: AuditEvent,
        now: float,
        rate: RateHit | None = None,
        generation: int | None = None,
    ) -> bool:
        """False, writing nothing, when ``replay_key`` is already claimed (live at ``now``).

        ``rate``: count this hit first, in the same unit of work; past its limit, raise
        :class:`~forcegate.stores.rate_hit.RateExceeded` having claimed and written nothing else (the
        hit stays counted, as :meth:`RateCounter.hit`'s do); a replay gives the hit back.
        ``generation``: the registry generation the grant was decided at; if the registry is at
        another, raise :class:`~forcegate.stores.registry_moved.RegistryMoved` having counted,
        claimed and written nothing (decision 0036).
        """
        ...

    async def claim(
        self,
        *,
        replay_key: str,
        replay_until: float,
        now: float,
        rate: RateHit | None = None,
        generation: int | None = None,
        event: AuditEvent | None = None,
    ) -> bool:
        """The single use of an assertion that is not exchanged for a token (an Apex JWT sent directly
        as a bearer credential): :meth:`record_grant`'s rate hit and claim, in one unit of work, with
        ``event``'s audit row if given and the claim won (no token record). False when ``replay_key``
        is already claimed; ``rate`` and ``generation`` as in :meth:`record_grant`."""
        ...


class SessionStore(Protocol):
    async def create(self, session: Session) -> None: ...
    async def get(self, id_hash: str, *, now: float | None = None) -> Session | None:
        """The session, or None if unknown or expired at ``now`` (the caller's clock; default: the wall clock)."""
        ...

    async def delete(self, id_hash: str) -> None: ...
    async def purge(self, now: float) -> int: ...


class AuditLog(Protocol):
    async def append(self, events: Sequence[AuditEvent]) -> None:
        """Write all events in one transaction."""
        ...

    async def query(
        self, *, org_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> Sequence[AuditEvent]:
        """Newest first."""
        ...

    async def purge(self, before: float) -> int:
        """Delete events that happened before ``before`` (the retention limit); return how many."""
        ...


class ServiceKeyStore(Protocol):
    """The service's own secrets: access-token signing keys and the admin credential.

    Adding or retiring a signing key bumps :meth:`TrustStore.generation` in the same transaction, so
    every worker reloads its keys on its next request (a rotation needs no restart).
    """

    async def signing_keys(self) -> Sequence[SigningKey]:
        """Every signing key, newest first: the newest active one signs, every one verifies."""
        ...

    async def add_signing_key(self, key: SigningKey) -> None:
        """Store ``key`` (sealed); the same ``kid`` twice is :class:`AlreadyExists`."""
        ...

    async def retire_signing_key(self, kid: str) -> None:
        """Delete key ``kid``: tokens it signed stop verifying.

        :class:`NotFound` for an unknown kid; :class:`RegistryError` for the key that signs (the newest
        active one) or the last key. A refused call changes nothing.
        """
        ...

    async def set_admin_token(self, token: str) -> None:
        """Store (a digest of) the admin token, replacing any previous one."""
        ...

    async def check_admin_token(self, token: str) -> bool:
        """Constant-time check of ``token`` against the stored admin credential."""
        ...

    async def has_admin_token(self) -> bool: ...


class EnrollmentStore(Protocol):
    """Subscriber enrollments and the approval list (issue 14), part of the trust registry.

    Every write bumps :meth:`TrustStore.generation` in the same transaction and is atomic; a state
    change is a compare-and-set on the current state, so two deciders (an approval racing a proof or a
    rejection) cannot both win. Which transitions are allowed, and when, is the registry service's
    policy (:mod:`forcegate.registry.enrollment`); the store only makes them atomic.
    """

    async def add_enrollment(self, enrollment: Enrollment) -> Enrollment:
        """Store a new enrollment. An open enrollment of the same org and certificate is expired in the
        same transaction (the newer one replaces it); a taken ``enrollment_id`` is :class:`AlreadyExists`."""
        ...

    async def get_enrollment(self, enrollment_id: str) -> Enrollment | None: ...
    async def list_enrollments(
        self, *, states: Sequence[EnrollmentState] = (), org_id: str | None = None, limit: int = 100
    ) -> Sequence[Enrollment]:
        """Newest first; ``states`` (empty: any) and ``org_id`` narrow the list."""
        ...

    async def set_enrollment_state(
        self,
        enrollment_id: str,
        *,
        expected: Sequence[EnrollmentState],
        state: EnrollmentState,
        now: float,
        decided_by: str | None = None,
        reason: str | None = None,
        proven: bool = False,
    ) -> Enrollment:
        """Move the enrollment from one of ``expected`` to ``state`` (``proven``: record ``now`` as the
        proof's time). :class:`NotFound` for an unknown id, :class:`EnrollmentStateConflict` (and no
        change) when its state is not one of ``expected``."""
        ...

    async def activate_enrollment(
        self,
        enrollment_id: str,
        *,
        expected: Sequence[EnrollmentState],
        org: Org,
        label: str,
        now: float,
        decided_by: str | None = None,
        proven: bool = False,
        retire_previous_at: float | None = None,
    ) -> tuple[Enrollment, CertificateRecord]:
        """ONE transaction: register ``org`` unless its id is registered, trust the enrollment's
        certificate for it (active; the write of :meth:`TrustStore.add_certificates`: one held by
        another org is :class:`CertificateShared`, by this org :class:`AlreadyExists`), and make the
        enrollment ``active`` from one of ``expected``. A rotation (``replaces_fingerprint`` set) also
        schedules the replaced certificate's retirement at ``retire_previous_at``; when that certificate
        is no longer active, or already retiring, nothing is written (:class:`EnrollmentStateConflict`).
        All or nothing."""
        ...

    async def add_active_enrollment(
        self, enrollment: Enrollment, *, org: Org, label: str, decided_by: str, retire_previous_at: float | None
    ) -> tuple[Enrollment, CertificateRecord]:
        """ONE transaction: :meth:`add_enrollment` of a proven ``enrollment`` (its state ``pending_approval``)
        and its :meth:`activate_enrollment` at its ``created_at``. All or nothing: a rotation that needs
        no approval leaves no row behind when it is refused."""
        ...

    async def expire_enrollments(self, now: float) -> int:
        """Expire the ``pending_proof`` and ``approved`` enrollments whose code lapsed before ``now``; how many."""
        ...

    async def enrollment_counts(self) -> dict[str, int]:
        """How many enrollments are in each state (states without any are absent); one query."""
        ...

    async def approve_orgs(self, org_ids: Sequence[str], *, source: str = "") -> int:
        """Add canonical (18-character) org ids to the approval list, all in ONE transaction; ids already
        listed stay as they are. How many were new."""
        ...

    async def is_org_approved(self, org_id: str) -> bool: ...
    async def approved_orgs(self, *, limit: int = 1000, after: str | None = None) -> Sequence[str]:
        """The approval list by id; ``after`` pages."""
        ...

    async def begin_sign_in(self, sign_in: SignIn) -> None:
        """Record a sign-in that has just been sent to Salesforce (not a registry write: no generation bump)."""
        ...

    async def complete_sign_in(
        self, id_hash: str, state_hash: str, *, org_id: str, user_id: str, username: str, now: float, expires_at: float
    ) -> bool:
        """ONE compare-and-set: the sign-in ``id_hash`` with this ``state_hash``, not completed and not
        expired at ``now``, becomes signed in as this user until ``expires_at``. False, changing
        nothing, otherwise (the state was used already, or is another sign-in's)."""
        ...

    async def get_sign_in(self, id_hash: str, *, now: float) -> SignIn | None:
        """The sign-in, or None if unknown or expired at ``now``."""
        ...

    async def end_sign_in(self, id_hash: str) -> None: ...
    async def purge_sign_ins(self, now: float) -> int:
        """Forget the sign-ins that expired before ``now``; how many."""
        ...


class ConsoleStore(Protocol):
    """The admin console's state (issue 15): operators, their sessions, the sign-in failure counters,
    and the read queries behind its pages (searches and aggregates run in the database, so a page
    costs the same with 100 orgs or 100,000).

    Sessions and counters live in the database on every backend (not in Redis): several workers and
    hosts share them, and a restart keeps operators signed in and lockouts in force. Which failures
    lock, for how long, and who may sign in is the console sign-in policy
    (:mod:`forcegate.service.console_sign_in`); the store only counts and stores.
    """

    async def add_operator(self, operator: Operator) -> None:
        """Store a new operator; a taken name is :class:`AlreadyExists`."""
        ...

    async def set_operator_password(self, name: str, password_hash: str, *, now: float) -> None:
        """Replace the operator's password hash; :class:`NotFound` for an unknown name."""
        ...

    async def get_operator(self, name: str) -> Operator | None: ...
    async def list_operators(self) -> Sequence[Operator]:
        """Every operator, by name."""
        ...

    async def delete_operator(self, name: str) -> None:
        """Remove the operator and end its sessions (one transaction); :class:`NotFound` if unknown."""
        ...

    async def create_session(self, session: ConsoleSession) -> None: ...
    async def get_session(self, id_hash: str, *, now: float) -> ConsoleSession | None:
        """The session, or None if unknown or expired at ``now``."""
        ...

    async def delete_session(self, id_hash: str) -> None: ...
    async def count_failure(self, key: str, *, now: float, window: float) -> SignInFailures:
        """Count one failed sign-in of ``key``, atomically: in the current window (which started at
        the key's first failure less than ``window`` seconds ago), else in a new one starting now."""
        ...

    async def lock(self, key: str, until: float) -> None:
        """Refuse ``key``'s sign-ins until ``until`` (a later lock stays)."""
        ...

    async def failures(self, key: str) -> SignInFailures | None: ...
    async def clear_failures(self, key: str) -> None: ...
    async def purge(self, now: float) -> int:
        """Forget expired sessions, and failure counters whose window and lock ended before
        ``now`` minus a day; how many rows."""
        ...

    async def search_orgs(self, search: OrgSearch, *, limit: int = 50, after: str | None = None) -> Sequence[Org]:
        """A page of the orgs matching ``search``, by id; ``after`` pages."""
        ...

    async def count_orgs(self, search: OrgSearch | None = None) -> int: ...
    async def registry_counts(self) -> dict[str, int]:
        """``apps``, ``orgs``, ``certificates`` (active ones), in one round trip."""
        ...

    async def search_audit(
        self, given: AuditFilter, *, limit: int = 50, before_id: int | None = None
    ) -> Sequence[AuditEvent]:
        """Events matching ``given``, newest first; ``before_id`` pages."""
        ...

    async def activity(self, since: float, bucket_seconds: int) -> Sequence[ActivityRow]:
        """Decisions since ``since`` by (bucket, credential, result); bucket n starts at since + n * bucket_seconds."""
        ...

    async def refusal_reasons(self, since: float, *, limit: int = 10) -> Sequence[tuple[str, int]]:
        """The most frequent refusal codes since ``since``, most frequent first."""
        ...

    async def migration_counts(self, since: float) -> MigrationCounts:
        """How many orgs came only through Canvas, through both, only through JWTs since ``since``
        (verified, allowed decisions of the audit log)."""
        ...

    async def migration_orgs(
        self, since: float, category: MigrationCategory, *, limit: int = 100, after: str | None = None
    ) -> Sequence[MigrationOrg]:
        """The orgs of ``category``, by id; ``after`` pages."""
        ...


class NotificationStore(Protocol):
    """The outbox of notifications to ``FORCEGATE_NOTIFY_URL`` (issue 14), shared by every worker and host.

    Survives restarts (it is in the database). An event is one row whatever the number of workers that
    notice it (its id is deterministic; :meth:`enqueue` keeps the first). A sender takes due rows with
    :meth:`claim_due`, ONE compare-and-set that leases them, so two workers never send the same event
    at once; a sender that dies leaves its rows due again when the lease ends. When to retry and when
    to give up is the notification service's policy (:mod:`forcegate.service.notifications`); the store
    only makes each step atomic.
    """

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        """Insert the notifications whose ``event_id`` is new, in one transaction; an id already present
        (in any state) is left as it is, so a second insert is a no-op. How many were new."""
        ...

    async def unknown_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Those of ``event_ids`` the outbox does not hold (a read: a scan builds only their events)."""
        ...

    async def claim_due(self, now: float, *, lease_until: float, claim: str, limit: int = 10) -> Sequence[Notification]:
        """ONE compare-and-set: up to ``limit`` pending notifications due at ``now`` (``next_attempt_at``
        <= ``now``), soonest first, become claimed by ``claim`` (random, 16+ hex digits) until
        ``lease_until``, their ``attempts`` counted. Concurrent callers never get the same row."""
        ...

    async def mark_delivered(self, event_id: str, *, now: float) -> bool:
        """The receiver took it (2xx): ``delivered``. False when it is not pending (already delivered)."""
        ...

    async def mark_failed(self, event_id: str, claim: str, *, now: float, error: str, retry_at: float | None) -> bool:
        """The attempt under ``claim`` failed with ``error``: due again at ``retry_at``, or ``failed``
        (given up) when it is None. False, changing nothing, when ``claim`` no longer holds it."""
        ...

    async def get_notification(self, event_id: str) -> Notification | None: ...
    async def list_notifications(
        self, *, states: Sequence[NotificationState] = (), limit: int = 100
    ) -> Sequence[Notification]:
        """Most recently changed first; ``states`` (empty: any) narrows the list."""
        ...

    async def retry_notification(self, event_id: str, *, now: float, give_up_at: float) -> Notification:
        """Make a ``failed`` notification (or a pending one nobody is sending) due at ``now``, its attempts
        reset and its bound moved to ``give_up_at``. :class:`NotFound` for an unknown id,
        :class:`RegistryError` (and no change) for a delivered one or one being sent."""
        ...

    async def purge_notifications(self, before: float) -> int:
        """Delete the delivered and failed notifications last changed before ``before``; how many."""
        ...

    async def expiring_certificates(
        self, start: float, end: float, *, after: tuple[float, int] | None = None, limit: int = 500
    ) -> Sequence[CertificateRecord]:
        """The expiry watch's page: active certificates of enabled orgs with ``start`` < ``not_after`` <=
        ``end``, except those whose org has another active certificate valid after ``end`` (a successor
        is in place), by ``(not_after, id)``; ``after`` is the last of the previous page."""
        ...

    async def pending_approvals(
        self, *, after: tuple[float, str] | None = None, limit: int = 500
    ) -> Sequence[Enrollment]:
        """Enrollments in ``pending_approval``, oldest first by ``(created_at, enrollment_id)``; ``after``
        is the last of the previous page."""
        ...
