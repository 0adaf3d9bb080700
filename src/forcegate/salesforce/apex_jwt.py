"""Deprecated: moved to :mod:`forcegate.devtools.apex_jwt`; importing this module warns and re-exports."""

from forcegate._deprecation import warn_moved
from forcegate.devtools.apex_jwt import (
    DEFAULT_NBF_CLOCK_SKEW,
    DEFAULT_VALIDITY_LENGTH,
    SALESFORCE_ALGORITHMS,
    STANDARD_CLAIMS,
    AuthJWS,
    AuthJWT,
    CertificateAndKeyManagement,
    KeystoreEntryLike,
    KeystoreLike,
)

__all__ = [
    "DEFAULT_NBF_CLOCK_SKEW",
    "DEFAULT_VALIDITY_LENGTH",
    "SALESFORCE_ALGORITHMS",
    "STANDARD_CLAIMS",
    "AuthJWS",
    "AuthJWT",
    "CertificateAndKeyManagement",
    "KeystoreEntryLike",
    "KeystoreLike",
]

warn_moved("forcegate.salesforce.apex_jwt", "forcegate.devtools.apex_jwt", stacklevel=2)
