"""The Salesforce side of forcegate, generated: Apex, an LWC and metadata as an SFDX source fragment.

``forcegate sfdx scaffold`` writes it; :func:`plan_scaffold` renders it without writing.
"""

from forcegate.devtools.sfdx._scaffold import (
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
