"""What the package's setup page sends from the org for enrollment and rotation, as its Apex builds it.

The generated ``ForcegateSetupController`` (``forcegate sfdx scaffold``) signs these with
``Auth.JWS``; these functions build the same bytes with the emulated :class:`AuthJWT` /
:class:`AuthJWS`, so tests and ``forcegate demo`` exercise exactly what a subscriber org posts:

* :func:`proof_assertion` — the proof of possession posted to ``/enroll/proof`` (the one-time
  enrollment code in ``enrollment_code``);
* :func:`rotation_form` — the rotation posted to ``/enroll/rotate``: ONE payload built with
  ``Auth.JWT.toJSONString()``, signed with ``new Auth.JWS(payload, name)`` by the current certificate
  and by the new one, the new certificate (base64 DER, the PEM body) in ``forcegate_new_certificate``.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.clock import Clock
from forcegate.devtools.apex_jwt import AuthJWS, AuthJWT, CertificateAndKeyManagement

__all__ = ["proof_assertion", "rotation_form"]


def proof_assertion(
    certificates: CertificateAndKeyManagement,
    certificate_name: str,
    *,
    org_id: str,
    username: str,
    service_url: str,
    code: str,
    clock: Clock | None = None,
) -> str:
    """The proof of possession: signed by ``certificate_name``, carrying the enrollment ``code``."""
    jwt = AuthJWT(
        iss=org_id,
        sub=username,
        aud=service_url.rstrip("/") + "/enroll/proof",
        additional_claims={"enrollment_code": code},
    )
    return AuthJWS(jwt, certificate_name, certificates=certificates, clock=clock).compact_serialization()


def rotation_form(
    certificates: CertificateAndKeyManagement,
    *,
    current: str,
    new: str,
    org_id: str,
    username: str,
    service_url: str,
    clock: Clock | None = None,
) -> dict[str, str]:
    """The form fields of a rotation from certificate ``current`` to certificate ``new``."""
    # The setup page has the admin paste the new certificate's PEM; its body is this base64 DER.
    der = certificates.certificate(new).public_bytes(Encoding.DER)
    jwt = AuthJWT(
        iss=org_id,
        sub=username,
        aud=service_url.rstrip("/") + "/enroll/rotate",
        additional_claims={"forcegate_new_certificate": base64.b64encode(der).decode("ascii")},
    )
    payload = jwt.to_json_string(clock=clock)
    return {
        "assertion": AuthJWS(payload, current, certificates=certificates).compact_serialization(),
        "new_key_assertion": AuthJWS(payload, new, certificates=certificates).compact_serialization(),
    }
