"""Rows to records and back, shared by the SQL backends: column lists, row values, converters.

A row is a sequence of column values in the order of the matching ``*_COLUMNS`` list (an
``sqlite3`` tuple or an ``asyncpg.Record``). Secrets are sealed and opened here with the caller's
:class:`SecretBox`, under contexts that bind each ciphertext to its row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.core.identity import Identity
from forcegate.core.trusted_key import x5t_s256
from forcegate.errors import AlreadyExists, CertificateShared, ConfigurationError, NotFound, RegistryError
from forcegate.stores.encryption import SecretBox
from forcegate.stores.key_digests import key_sha256
from forcegate.stores.models import App, AppSecret, AuditEvent, CertificateRecord, IssuedToken, Session, SigningKey
from forcegate.stores.values import Row, check_text

__all__ = [
    "APP_COLUMNS",
    "AUDIT_COLUMNS",
    "AUDIT_COLUMN_COUNT",
    "CERT_COLUMNS",
    "ISSUED_COLUMNS",
    "ISSUED_COLUMN_COUNT",
    "MAX_AUDIT_PAGE",
    "NEW_CERT_COLUMNS",
    "NEW_CERT_COLUMN_COUNT",
    "SESSION_COLUMNS",
    "SESSION_COLUMN_COUNT",
    "SIGNING_KEY_COLUMNS",
    "admin_digest",
    "admin_token_matches",
    "app_from_row",
    "app_secret_from_row",
    "audit_from_row",
    "audit_rows",
    "audit_select",
    "audit_values",
    "certificate_from_row",
    "certificate_rows",
    "certificate_values",
    "check_retirable",
    "check_sharing",
    "issued_from_row",
    "issued_values",
    "secret_context",
    "session_from_row",
    "session_values",
    "signing_key_context",
    "signing_key_from_row",
    "signing_key_values",
    "the_certificate",
]

MAX_AUDIT_PAGE = 1000

APP_COLUMNS = "consumer_key, name, any_org, created_at, canvas_name"
CERT_COLUMNS = (
    "id, org_id, label, der, sha256_fingerprint, x5t_s256, subject, not_before, not_after, state, created_at, shared, "
    "retire_at, key_sha256"
)
#: The columns of :func:`certificate_values`: all but the assigned ``id``.
NEW_CERT_COLUMNS = CERT_COLUMNS.removeprefix("id, ")
NEW_CERT_COLUMN_COUNT = NEW_CERT_COLUMNS.count(",") + 1
ISSUED_COLUMNS = "jti, org_id, user_id, client_id, scope, issued_at, expires_at, mac"
ISSUED_COLUMN_COUNT = ISSUED_COLUMNS.count(",") + 1
SESSION_COLUMNS = "id_hash, identity, created_at, expires_at, app_secret_id"
SESSION_COLUMN_COUNT = SESSION_COLUMNS.count(",") + 1
AUDIT_COLUMNS = "at, endpoint, credential, result, code, detail, org_id, user_id, subject, issuer, client, verified"
AUDIT_COLUMN_COUNT = AUDIT_COLUMNS.count(",") + 1
SIGNING_KEY_COLUMNS = "kid, algorithm, private_pem_enc, created_at, active"

# Compared against when no admin token is set, so "none set" takes as long as "wrong token".
_NO_TOKEN_DIGEST = "0" * 64


# --- apps and their secrets --------------------------------------------------------------------------


def app_from_row(row: Row) -> App:
    """From a row of ``APP_COLUMNS``."""
    return App(consumer_key=row[0], name=row[1], any_org=bool(row[2]), created_at=row[3], canvas_name=row[4])


def secret_context(consumer_key: str, secret_id: int) -> str:
    return f"app_secret:{consumer_key}:{secret_id}"


def app_secret_from_row(box: SecretBox, consumer_key: str, row: Row) -> AppSecret:
    """From a row of ``id, secret_enc, created_at`` (the secret decrypted)."""
    secret_id, sealed, created_at = row
    secret = box.decrypt(sealed, context=secret_context(consumer_key, secret_id)).decode("utf-8")
    return AppSecret(id=secret_id, consumer_key=consumer_key, secret=secret, created_at=created_at)


# --- certificates ------------------------------------------------------------------------------------


def certificate_values(
    org_id: str, label: str, certificate: x509.Certificate, now: float, *, shared: bool = False
) -> tuple[Any, ...]:
    """The values of ``CERT_COLUMNS`` but ``id`` for a new, active certificate of ``org_id``."""
    if not isinstance(certificate, x509.Certificate):
        raise ConfigurationError(f"expected an x509.Certificate, not {type(certificate).__name__}")
    der = certificate.public_bytes(Encoding.DER)
    return (
        org_id,
        label,
        der,
        hashlib.sha256(der).hexdigest(),
        x5t_s256(certificate),
        certificate.subject.rfc4514_string(),
        certificate.not_valid_before_utc.timestamp(),
        certificate.not_valid_after_utc.timestamp(),
        "active",
        now,
        int(shared),
        None,  # retire_at: none scheduled
        key_sha256(certificate),
    )


def certificate_rows(org_id: str, certificates: object, now: float, *, shared: int) -> list[tuple[Any, ...]]:
    """:func:`certificate_values` of each ``(certificate, label)``; a certificate given twice is refused."""
    if isinstance(certificates, str | bytes) or not isinstance(certificates, Sequence) or not certificates:
        raise ConfigurationError("certificates is a non-empty list of (certificate, label) pairs")
    rows: list[tuple[Any, ...]] = []
    for item in certificates:
        if not isinstance(item, tuple) or len(item) != 2:
            raise ConfigurationError("each certificate is given as a (certificate, label) pair")
        certificate, label = item
        rows.append(
            certificate_values(org_id, check_text(label, "certificate label"), certificate, now, shared=bool(shared))
        )
    fingerprints = [row[3] for row in rows]
    if len(set(fingerprints)) != len(fingerprints):
        raise AlreadyExists("the same certificate is given twice")
    return rows


def check_sharing(fingerprint: str, org_id: str, others: Sequence[str], *, shared: bool) -> None:
    """Refuse to trust for ``org_id`` a certificate that ``others`` (other orgs) hold — that certificate,
    or another of its key — unless ``shared``."""
    if others and not shared:
        shown = ", ".join(sorted(set(others))[:3]) + (" …" if len(set(others)) > 3 else "")
        raise CertificateShared(
            f"certificate {fingerprint} (or another certificate of its key) is already trusted for org {shown}: "
            "any org holding its key could sign as "
            f"the others. Give each org its own certificate, or register it for {org_id} as shared on purpose"
        )


def certificate_from_row(row: Row) -> CertificateRecord:
    """From a row of ``CERT_COLUMNS``."""
    (cid, oid, label, der, fingerprint, x5t, subject, not_before, not_after, state, created_at, shared, retire_at,
     key_digest) = row  # fmt: skip
    return CertificateRecord(
        id=cid,
        org_id=oid,
        label=label,
        der=bytes(der),
        sha256_fingerprint=fingerprint,
        x5t_s256=x5t,
        subject=subject,
        not_before=not_before,
        not_after=not_after,
        state=state,
        created_at=created_at,
        shared=bool(shared),
        retire_at=retire_at,
        key_sha256=key_digest,
    )


def the_certificate(rows: Sequence[Row], org_id: str, prefix: str) -> CertificateRecord:
    """The one certificate of ``org_id`` whose fingerprint starts with ``prefix`` (``rows``: the matches)."""
    if not rows:
        raise NotFound(f"org {org_id} has no certificate with fingerprint {prefix}…")
    if len(rows) > 1:
        raise RegistryError(
            f"fingerprint prefix {prefix} matches {len(rows)} certificates of org {org_id}; give more digits"
        )
    return certificate_from_row(rows[0])


# --- issued tokens, sessions, audit events -----------------------------------------------------------


def issued_values(token: IssuedToken) -> tuple[Any, ...]:
    """The values of ``ISSUED_COLUMNS`` (the record's fields are in the columns' order)."""
    return tuple(token)


def issued_from_row(row: Row) -> IssuedToken:
    jti, org_id, user_id, client_id, scope, issued_at, expires_at, mac = row
    return IssuedToken(
        jti=jti,
        org_id=org_id,
        user_id=user_id,
        client_id=client_id,
        scope=scope,
        issued_at=issued_at,
        expires_at=expires_at,
        mac=mac,
    )


def session_values(session: Session) -> tuple[Any, ...]:
    """The values of ``SESSION_COLUMNS`` (the identity as compact JSON)."""
    identity = json.dumps(session.identity.to_dict(), separators=(",", ":"))
    return (session.id_hash, identity, session.created_at, session.expires_at, session.app_secret_id)


def session_from_row(row: Row) -> Session:
    id_hash, identity, created_at, expires_at, app_secret_id = row
    return Session(
        id_hash=id_hash,
        identity=Identity.from_dict(json.loads(identity)),
        created_at=created_at,
        expires_at=expires_at,
        app_secret_id=app_secret_id,
    )


def audit_values(e: AuditEvent) -> tuple[Any, ...]:
    """The values of ``AUDIT_COLUMNS`` (the schema's CHECK guards ``result``)."""
    return (
        e.at,
        e.endpoint,
        e.credential,
        e.result,
        e.code,
        e.detail,
        e.org_id,
        e.user_id,
        e.subject,
        e.issuer,
        e.client,
        int(e.verified),
    )


def audit_rows(events: Sequence[AuditEvent]) -> list[tuple[Any, ...]]:
    """:func:`audit_values` of each event; an invalid ``result`` refuses the whole batch up front."""
    rows = [audit_values(event) for event in events]
    if any(row[3] not in ("allowed", "denied") for row in rows):
        raise ConfigurationError("an audit event's result is 'allowed' or 'denied'")
    return rows


def audit_from_row(row: Row) -> AuditEvent:
    """From a row of ``id, AUDIT_COLUMNS``."""
    return AuditEvent(
        id=row[0],
        at=row[1],
        endpoint=row[2],
        credential=row[3],
        result=row[4],
        code=row[5],
        detail=row[6],
        org_id=row[7],
        user_id=row[8],
        subject=row[9],
        issuer=row[10],
        client=row[11],
        verified=bool(row[12]),
    )


def audit_select(
    *,
    org_id: str | None,
    limit: int,
    before_id: int | None,
    mark: Callable[[int], str],
    equal: Sequence[tuple[str, object]] = (),
    since: float | None = None,
    until: float | None = None,
) -> tuple[str, list[object]]:
    """The query behind ``AuditLog.query`` (newest first, ``limit`` capped) and its parameters; the
    console's audit page adds ``equal`` (column, value; a None or empty value filters nothing; the
    columns are the caller's constants) and a time range (``since`` <= at < ``until``).

    ``mark(n)`` spells the n-th placeholder of the dialect (``?`` or ``$n``).
    """
    conditions: list[str] = []
    params: list[object] = []
    for column, value in (("org_id", org_id), *equal):
        if value is not None and value != "":
            params.append(value)
            conditions.append(f"{column} = {mark(len(params))}")
    for operator, moment in ((">=", since), ("<", until)):
        if moment is not None:
            params.append(moment)
            conditions.append(f"at {operator} {mark(len(params))}")
    if before_id is not None:
        params.append(before_id)
        conditions.append(f"id < {mark(len(params))}")
    params.append(max(0, min(limit, MAX_AUDIT_PAGE)))
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    # Interpolated: the module's column list, the callers' column names and placeholders, never input.
    sql = f"SELECT id, {AUDIT_COLUMNS} FROM audit_events {where}ORDER BY id DESC LIMIT {mark(len(params))}"  # noqa: S608
    return sql, params


# --- service keys ------------------------------------------------------------------------------------


def signing_key_context(kid: str) -> str:
    """The encryption context of a signing key's sealed private key."""
    return f"signing_key:{kid}"


def signing_key_values(box: SecretBox, key: SigningKey) -> tuple[Any, ...]:
    """The values of ``SIGNING_KEY_COLUMNS`` (the private key sealed), after checking ``key``."""
    kid = check_text(key.kid, "kid", allow_empty=False)
    algorithm = check_text(key.algorithm, "algorithm", allow_empty=False)
    if not isinstance(key.private_pem, bytes) or not key.private_pem:
        raise ConfigurationError("a signing key's private_pem is non-empty bytes")
    sealed = box.encrypt(key.private_pem, context=signing_key_context(kid))
    return (kid, algorithm, sealed, key.created_at, int(key.active))


def signing_key_from_row(box: SecretBox, row: Row) -> SigningKey:
    kid, algorithm, sealed, created_at, active = row
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        private_pem=box.decrypt(sealed, context=signing_key_context(kid)),
        created_at=created_at,
        active=bool(active),
    )


def check_retirable(keys: Sequence[tuple[str, bool]], kid: str) -> None:
    """Refuse to retire ``kid`` if it is unknown (:class:`NotFound`), the key that signs or the last key.

    ``keys``: ``(kid, active)`` of every signing key, newest first (the order the service picks its
    signer in: the newest active key signs).
    """
    kids = [k for k, _ in keys]
    if kid not in kids:
        raise NotFound(f"no signing key with kid {kid!r}")
    signer = next((k for k, active in keys if active), None)
    if kid == signer:
        # Retiring the signer would leave the service signing with an older key, or none: a rotation
        # makes another key the signer first, deliberately.
        raise RegistryError(
            f"signing key {kid} is the one that signs new access tokens (the newest active key): rotate to a "
            "new key first, then retire this one once the tokens it signed have expired"
        )
    if len(kids) == 1:
        raise RegistryError(f"signing key {kid} is the only signing key: the service could not start without it")


def admin_digest(token: str) -> str:
    # A plain SHA-256 suffices: the admin token is a long random string, not a password, so there
    # is nothing for a slow, salted hash to protect against; a copy of the database grants nothing.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def admin_token_matches(token: object, stored: str | None) -> bool:
    """Constant-time comparison of ``token`` with the stored digest (None: no admin token is set)."""
    given = admin_digest(token) if isinstance(token, str) else ""
    return hmac.compare_digest(given, _NO_TOKEN_DIGEST if stored is None else stored) and stored is not None
