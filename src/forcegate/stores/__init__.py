"""Storage for the service: the Protocols it depends on and the backends that implement them.

:func:`open_stores` picks the backend from the settings' database URL (``sqlite:///…``, the
embedded default). Every backend keeps secrets encrypted at rest with the settings' key.
"""

from __future__ import annotations

from forcegate.stores.bundle import Stores
from forcegate.stores.models import (
    App,
    AppSecret,
    AuditEvent,
    CertificateRecord,
    Enrollment,
    IssuedToken,
    Org,
    OrgPolicy,
    Session,
    SigningKey,
)
from forcegate.stores.opening import open_stores
from forcegate.stores.protocols import (
    UNSET,
    AuditLog,
    EnrollmentStore,
    GrantRecorder,
    RateCounter,
    ReplayCache,
    ServiceKeyStore,
    SessionStore,
    TokenStore,
    TrustStore,
)

__all__ = [
    "UNSET",
    "App",
    "AppSecret",
    "AuditEvent",
    "AuditLog",
    "CertificateRecord",
    "Enrollment",
    "EnrollmentStore",
    "GrantRecorder",
    "IssuedToken",
    "Org",
    "OrgPolicy",
    "RateCounter",
    "ReplayCache",
    "ServiceKeyStore",
    "Session",
    "SessionStore",
    "SigningKey",
    "Stores",
    "TokenStore",
    "TrustStore",
    "open_stores",
]
