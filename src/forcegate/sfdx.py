"""Deprecated: moved to :mod:`forcegate.devtools.sfdx`; importing this module warns and re-exports."""

from forcegate._deprecation import warn_moved
from forcegate.devtools.sfdx import (
    API_VERSION,
    CACHE_PARTITION_NAME,
    CALLOUT_MODES,
    DEFAULT_CERT_NAME,
    DEFAULT_ISSUER,
    ScaffoldPlan,
    normalise_service_url,
    plan_scaffold,
    write_scaffold,
)

__all__ = [
    "API_VERSION",
    "CACHE_PARTITION_NAME",
    "CALLOUT_MODES",
    "DEFAULT_CERT_NAME",
    "DEFAULT_ISSUER",
    "ScaffoldPlan",
    "normalise_service_url",
    "plan_scaffold",
    "write_scaffold",
]

warn_moved("forcegate.sfdx", "forcegate.devtools.sfdx", stacklevel=2)
