"""Certificates the key loaders refuse are a 400 at the admin API, never a 500 (fuzzing findings)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keys.keys_support import as_pem, odd_certificate_der
from server.live import LiveServer, Org

PREFIX = "/admin/api/v1"
KEY = ec.derive_private_key(0x5EED, ec.SECP256R1())


@pytest.mark.parametrize(
    ("der", "reason"),
    [
        (odd_certificate_der(KEY, serial=-1), "certificate serial number is not positive"),
        (odd_certificate_der(KEY, serial=0), "certificate serial number is not positive"),
        (
            odd_certificate_der(KEY, subject_cn=b"\x0c\x07\xff\xfe\xfd\xfc\xfb\xfa\xf9"),
            "certificate subject name does not parse",
        ),
        (
            odd_certificate_der(KEY, issuer_cn=b"\x0c\x06\xff\xfe\xfd\xfc\xfb\xfa"),
            "certificate issuer name does not parse",
        ),
        (
            odd_certificate_der(KEY, subject_cn=b"\x03\x07\x00subjec"),
            "certificate subject name has a BIT STRING attribute",
        ),
    ],
)
def test_a_certificate_the_loaders_refuse_is_a_400(
    live_server: LiveServer, registered: Org, der: bytes, reason: str
) -> None:
    path = f"{PREFIX}/orgs/{registered.org_id}/certificates"
    with live_server.admin() as admin:
        for text in (as_pem(der).decode(), base64.b64encode(der).decode()):
            response = admin.post(path, json={"certificate": text})
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "invalid_request"
            assert reason in response.json()["error_description"]
