"""The demo's Salesforce org: its ids, its Connected App, its certificate, and what its Apex sends.

The certificate is made with :func:`forcegate.keys.generate_certificate` (RSA 2048, Salesforce's
subject for the org) and kept in an emulated Certificate and Key Management under a Unique Name,
so assertions are minted exactly as ``Auth.JWS(jwt, 'demo_jwt')`` would mint them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.devtools.apex_jwt import AuthJWS, AuthJWT, CertificateAndKeyManagement
from forcegate.devtools.canvas_signer import build_envelope, sign_envelope
from forcegate.keys import generate_certificate

__all__ = ["DemoOrg", "new_demo_org"]

ORG_ID = "00D5g000004ABCDEA4"
ORG_NAME = "Acme (demo)"
USER_ID = "0055g00000AbCdEAAV"
USERNAME = "ada@acme.example"
RECORD_ID = "0015g00000XyZabAAF"
CERT_NAME = "demo_jwt"
CONSUMER_KEY = "3MVG9demo.forcegate"
INSTANCE_URL = "https://acme.my.salesforce.com"
# What a CanvasLifecycleHandler's onRender would put in environment.parameters, and what the Apex
# JWT carries in its params claim: the same values, so the identities can be compared.
PARAMETERS: dict[str, Any] = {"region": "EMEA", "view": "open-orders"}


@dataclass
class DemoOrg:
    """One subscriber org with a Canvas Connected App and a JWT signing certificate."""

    certificates: CertificateAndKeyManagement = field(repr=False)
    certificate: x509.Certificate = field(repr=False)
    consumer_secret: str = field(repr=False)
    instance_url: str = INSTANCE_URL
    org_id: str = ORG_ID
    user_id: str = USER_ID
    username: str = USERNAME
    consumer_key: str = CONSUMER_KEY
    parameters: dict[str, Any] = field(default_factory=lambda: dict(PARAMETERS))

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(Encoding.PEM).decode("ascii")

    def signed_request(self, *, oauth_token: str | None = None) -> str:
        """The ``signed_request`` Salesforce POSTs when the Canvas app opens on an Account page."""
        envelope = build_envelope(
            org_id=self.org_id,
            user_id=self.user_id,
            user_name=self.username,
            org_name=ORG_NAME,
            instance_url=self.instance_url,
            parameters=self.parameters,
            record={"attributes": {"type": "Account"}, "Id": RECORD_ID},
            oauth_token=oauth_token,
        )
        return sign_envelope(envelope, self.consumer_secret)

    def apex_jws(self, audience: str) -> AuthJWS:
        """``new Auth.JWS(jwt, 'demo_jwt')`` for the org's user, as the Apex in README.md builds it."""
        jwt = AuthJWT(
            iss=self.org_id,
            sub=self.username,
            aud=audience,
            validity_length=300,
            additional_claims={
                "user_id": self.user_id,
                "instance_url": self.instance_url,
                "record_id": RECORD_ID,
                "params": self.parameters,
                # Two assertions minted in the same second would be byte-identical (RS256 is
                # deterministic) and the second a replay: a random claim keeps them apart, under
                # the name the generated Apex uses (docs/claim-profile.md, "Single use").
                "forcegate_nonce": secrets.token_hex(16),
            },
        )
        return AuthJWS(jwt, CERT_NAME, certificates=self.certificates)


def rsa_certificate(cn: str, *, org_id: str | None = None) -> tuple[RSAPrivateKey, x509.Certificate]:
    """A fresh RSA 2048 key and its self-signed certificate, as Certificate and Key Management makes them."""
    entry = generate_certificate(cn=cn, key_size=2048, org_id=org_id)
    key, certificate = entry.private_key, entry.certificate
    # generate_certificate always makes an RSA key and its certificate; the entry type is wider.
    if not isinstance(key, RSAPrivateKey) or certificate is None:  # pragma: no cover - cannot happen
        raise TypeError("generate_certificate returned no RSA key and certificate")
    return key, certificate


def new_demo_org(*, instance_url: str = INSTANCE_URL) -> DemoOrg:
    """A fresh certificate (RSA 2048, as Certificate and Key Management creates it) and consumer secret."""
    key, certificate = rsa_certificate(CERT_NAME, org_id=ORG_ID)
    certificates = CertificateAndKeyManagement()
    certificates.add(CERT_NAME, private_key=key, certificate=certificate)
    return DemoOrg(
        certificates=certificates,
        certificate=certificate,
        consumer_secret=secrets.token_urlsafe(32),
        instance_url=instance_url,
    )
