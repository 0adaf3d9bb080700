"""JSON views of registry records and audit events, shared by the admin API, the CLI's ``--json``
and the console.

Secrets never appear: an app shows how many secrets are active and when each was created. Weaker
trust is flagged where it is shown: an app that accepts any org (``any_org``), a certificate trusted
for several orgs (``shared``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from forcegate.registry.results import AppDetails, OrgDetails
from forcegate.stores.models import App, AppSecret, AuditEvent, CertificateRecord, Enrollment, Org
from forcegate.stores.values import POLICY_COLUMNS

__all__ = [
    "ANY_ORG_TRUST",
    "BOUND_TRUST",
    "app_details_view",
    "app_view",
    "audit_view",
    "certificate_view",
    "enrollment_view",
    "iso",
    "org_details_view",
    "org_view",
]


def iso(moment: float) -> str:
    """Epoch seconds as an ISO 8601 UTC timestamp with second precision."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


#: How an app's Canvas trust reads: bound to the orgs listed, or any org (the weaker legacy model).
ANY_ORG_TRUST = "any-org (weaker, legacy: the consumer secret alone vouches for every org)"
BOUND_TRUST = "bound-orgs"


def app_view(app: App, secrets: Sequence[AppSecret] = (), *, bound_orgs: int = 0) -> dict[str, Any]:
    return {
        "consumer_key": app.consumer_key,
        "name": app.name,
        "any_org": app.any_org,
        "canvas_trust": ANY_ORG_TRUST if app.any_org else BOUND_TRUST,
        "canvas_name": app.canvas_name,
        "bound_orgs": bound_orgs,
        "created_at": iso(app.created_at),
        "active_secrets": [{"id": s.id, "created_at": iso(s.created_at)} for s in secrets],
    }


def app_details_view(details: AppDetails) -> dict[str, Any]:
    return app_view(details.app, details.secrets, bound_orgs=details.bound_orgs)


def org_details_view(details: OrgDetails) -> dict[str, Any]:
    return org_view(details.org, details.certificates, details.apps)


def certificate_view(record: CertificateRecord) -> dict[str, Any]:
    return {
        "sha256_fingerprint": record.sha256_fingerprint,
        "x5t#S256": record.x5t_s256,
        "label": record.label,
        "subject": record.subject,
        "not_before": iso(record.not_before),
        "not_after": iso(record.not_after),
        "state": record.state,
        "shared": record.shared,
        "created_at": iso(record.created_at),
        # A rotation replaced it: trusted until then (the overlap).
        "retire_at": None if record.retire_at is None else iso(record.retire_at),
    }


def enrollment_view(enrollment: Enrollment) -> dict[str, Any]:
    """An enrollment without its code (only a digest is stored, and it is not shown either)."""
    certificate = enrollment.certificate()
    return {
        "id": enrollment.enrollment_id,
        "org_id": enrollment.org_id,
        "user_id": enrollment.user_id,
        "username": enrollment.username,
        "state": enrollment.state,
        "sha256_fingerprint": enrollment.sha256_fingerprint,
        "subject": certificate.subject.rfc4514_string(),
        "not_after": iso(certificate.not_valid_after_utc.timestamp()),
        "code_expires_at": iso(enrollment.code_expires_at),
        "proven_at": None if enrollment.proven_at is None else iso(enrollment.proven_at),
        "decided_by": enrollment.decided_by,
        "reason": enrollment.reason,
        "created_at": iso(enrollment.created_at),
        "updated_at": iso(enrollment.updated_at),
        # A rotation from the org: the certificate whose key signed it (retiring when this one is active).
        "replaces_fingerprint": enrollment.replaces_fingerprint,
    }


def org_view(
    org: Org, certificates: Sequence[CertificateRecord] | None = None, apps: Sequence[str] | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "org_id": org.org_id,
        "name": org.name,
        "enabled": org.enabled,
        "issuers": sorted(org.allowed_issuers),
        "subjects": None if org.subjects is None else list(org.subjects),
        "scopes": list(org.scopes),
        "algorithms": list(org.algorithms),
        **{name: getattr(org.policy, name) for name in POLICY_COLUMNS},
        "created_at": iso(org.created_at),
        "updated_at": iso(org.updated_at),
    }
    if apps is not None:
        view["apps"] = list(apps)
    if certificates is not None:
        view["certificates"] = [certificate_view(c) for c in certificates]
    return view


def audit_view(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "endpoint": event.endpoint,
        "credential": event.credential,
        "result": event.result,
        "code": event.code,
        "detail": event.detail,
        "org_id": event.org_id,
        "user_id": event.user_id,
        "subject": event.subject,
        "issuer": event.issuer,
        "client": event.client,
        "verified": event.verified,
    }
