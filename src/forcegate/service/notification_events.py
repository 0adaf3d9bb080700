"""The events sent to ``FORCEGATE_NOTIFY_URL``: which, their ids and JSON bodies, and their signature.

The schema (docs/onboarding.md, *Notifications*) is stable: fields may be added, never renamed or
removed. Every body is ``{"id", "type", "at", "source", "data"}``; ``id`` is deterministic, so a
receiver that has seen it may drop it. A body holds public facts only: org ids, a certificate's
fingerprint, subject and dates (certificates are public), an enrollment's id and the username of the
admin who asked — never an enrollment code, a token or a secret.

The signature (when ``notify_secret`` is set) is HMAC-SHA256 over ``f"{t}."`` followed by the exact
body bytes, with ``t`` the send time in epoch seconds, sent as ``Forcegate-Signature: t=<t>,v1=<hex>``:
a receiver checks that it was sent by the holder of the secret and recently (a replay of an old
request fails the time check; one within the tolerance repeats an ``id`` already seen).
"""

from __future__ import annotations

import hashlib
import hmac
import math

import orjson

from forcegate.registry.views import iso
from forcegate.stores.models import CertificateRecord, Enrollment
from forcegate.stores.notification_rows import Notification

__all__ = [
    "CERTIFICATE_EXPIRING",
    "DAY",
    "ENROLLMENT_PENDING_APPROVAL",
    "EVENT_TYPES",
    "EXPIRY_THRESHOLDS",
    "SIGNATURE_HEADER",
    "SIGNATURE_TOLERANCE",
    "certificate_event_id",
    "certificate_expiring",
    "enrollment_event_id",
    "enrollment_pending_approval",
    "expiry_threshold",
    "sign",
    "verify_signature",
]

CERTIFICATE_EXPIRING = "certificate.expiring"
ENROLLMENT_PENDING_APPROVAL = "enrollment.pending_approval"
EVENT_TYPES = (CERTIFICATE_EXPIRING, ENROLLMENT_PENDING_APPROVAL)
#: Days before ``not_after`` at which a certificate's coming expiry is announced.
EXPIRY_THRESHOLDS = (30, 7, 1)
DAY = 86_400
SIGNATURE_HEADER = "forcegate-signature"
#: How far the signature's time may be from the receiver's clock, in seconds (what the docs advise).
SIGNATURE_TOLERANCE = 300


def expiry_threshold(not_after: float, now: float) -> int | None:
    """The nearest threshold (days) a certificate valid until ``not_after`` has crossed at ``now``.

    None when it crossed none yet, or has expired (that is no longer "expiring"). The nearest only:
    a certificate first seen 5 days before its expiry is announced once, for 7 days, never for 30.
    """
    remaining = not_after - now
    if remaining <= 0:
        return None
    crossed = [days for days in EXPIRY_THRESHOLDS if remaining <= days * DAY]
    return min(crossed) if crossed else None


def certificate_event_id(record: CertificateRecord, threshold: int) -> str:
    """``certificate.expiring:<fingerprint>:<org>:<threshold>``."""
    return f"{CERTIFICATE_EXPIRING}:{record.sha256_fingerprint}:{record.org_id}:{threshold}"


def enrollment_event_id(enrollment: Enrollment) -> str:
    """``enrollment.pending_approval:<enrollment id>``."""
    return f"{ENROLLMENT_PENDING_APPROVAL}:{enrollment.enrollment_id}"


def certificate_expiring(
    record: CertificateRecord, *, threshold: int, now: float, source: str, give_up_after: float
) -> Notification:
    """``certificate.expiring`` for ``record`` having crossed ``threshold`` days, noticed at ``now``.

    One per certificate, org and threshold: a certificate trusted for two orgs (``shared``) is
    announced to each.
    """
    event_id = certificate_event_id(record, threshold)
    data = {
        "org_id": record.org_id,
        "fingerprint": record.sha256_fingerprint,
        "subject": record.subject,
        "label": record.label,
        "not_after": iso(record.not_after),
        "days_left": max(0, math.floor((record.not_after - now) / DAY)),
        "threshold": threshold,
    }
    return _event(event_id, CERTIFICATE_EXPIRING, data, now=now, source=source, give_up_after=give_up_after)


def enrollment_pending_approval(
    enrollment: Enrollment, *, now: float, source: str, give_up_after: float
) -> Notification:
    """``enrollment.pending_approval``: ``enrollment`` is proven and waits for the ISV's decision."""
    data: dict[str, object] = {
        "enrollment_id": enrollment.enrollment_id,
        "org_id": enrollment.org_id,
        "username": enrollment.username,
        "fingerprint": enrollment.sha256_fingerprint,
        "created_at": iso(enrollment.created_at),
        # A rotation from the org held by rotation_approval: the certificate it replaces.
        "replaces_fingerprint": enrollment.replaces_fingerprint,
    }
    event_id = enrollment_event_id(enrollment)
    return _event(event_id, ENROLLMENT_PENDING_APPROVAL, data, now=now, source=source, give_up_after=give_up_after)


def _event(
    event_id: str, event_type: str, data: dict[str, object], *, now: float, source: str, give_up_after: float
) -> Notification:
    body = {"id": event_id, "type": event_type, "at": iso(now), "source": source, "data": data}
    return Notification(
        event_id=event_id,
        event_type=event_type,
        payload=orjson.dumps(body).decode("utf-8"),
        created_at=now,
        next_attempt_at=now,
        give_up_at=now + give_up_after,
        updated_at=now,
    )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Forcegate-Signature`` value of ``body`` sent at ``timestamp``: ``t=<timestamp>,v1=<hex>``."""
    mac = hmac.new(secret.encode("utf-8"), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str | None, body: bytes, *, now: float, tolerance: int = SIGNATURE_TOLERANCE
) -> bool:
    """Whether ``header`` (a ``Forcegate-Signature`` value) signs ``body`` with ``secret`` within
    ``tolerance`` seconds of ``now``; what a receiver written in Python with forcegate installed runs.
    Constant time in the MAC; any malformed header is simply False."""
    if header is None:
        return False
    fields: dict[str, str] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name in fields:
            return False
        fields[name] = value
    stamp, mac = fields.get("t", ""), fields.get("v1", "")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12 or abs(now - int(stamp)) > tolerance:
        return False
    expected = sign(secret, int(stamp), body).rpartition("v1=")[2]
    return hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8", "replace"))
