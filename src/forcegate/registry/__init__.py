"""The trust registry's application layer: one service owns every registry read and write, and its policy.

:class:`RegistryService` is what the CLI, the admin API and the console call; the input models of
:mod:`forcegate.registry.inputs` say what each call accepts (and give the OpenAPI schemas), and
:mod:`forcegate.registry.policy` what may become trusted. The stores below only store.
"""

from forcegate.registry.inputs import (
    AppChanges,
    AppInput,
    CertificateInput,
    CertificateStateInput,
    EnrollmentRejectionInput,
    OrgChanges,
    OrgInput,
    SecretInput,
)
from forcegate.registry.results import Actor, AddedCertificates, AppDetails, KeyRotation, OrgDetails, certificates_in
from forcegate.registry.service import RegistryService

__all__ = [
    "Actor",
    "AddedCertificates",
    "AppChanges",
    "AppDetails",
    "AppInput",
    "CertificateInput",
    "CertificateStateInput",
    "EnrollmentRejectionInput",
    "KeyRotation",
    "OrgChanges",
    "OrgDetails",
    "OrgInput",
    "RegistryService",
    "SecretInput",
    "certificates_in",
]
