"""Tokens minted by the emulated org verify with two independent JOSE implementations.

PyJWT and joserfc get only the certificate's public key. Both must accept a fresh assertion and
both must reject one whose payload was changed by a single character.
"""

from __future__ import annotations

import base64
import time

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from forcegate.clock import FixedClock
from forcegate.devtools.apex_jwt import AuthJWS, AuthJWT, CertificateAndKeyManagement

ISSUER = "3MVG9example.consumer.key"
AUDIENCE = "https://service.example.com/oauth2/token"
SUBJECT = "alice@example.com"


def _mint(certificates: CertificateAndKeyManagement, cert_name: str) -> str:
    jwt = AuthJWT(iss=ISSUER, sub=SUBJECT, aud=AUDIENCE, nbf_clock_skew=5)
    jwt.set_additional_claims({"scope": "api", "parameters": {"recordId": "001000000000001AAA"}})
    # Real time: the verifiers check exp and nbf against their own clocks.
    return AuthJWS(jwt, cert_name, certificates=certificates, clock=FixedClock(time.time())).compact_serialization()


def _public_key(certificate: x509.Certificate) -> RSAPublicKey:
    key = certificate.public_key()
    assert isinstance(key, RSAPublicKey)
    return key


def _tamper(token: str) -> str:
    """Change one character of the JSON payload (``alice`` -> ``alicf``), keeping it valid JSON."""
    header, payload, signature = token.split(".")
    claims_json = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    changed = claims_json.replace(b'"alice@', b'"alicf@', 1)
    assert changed != claims_json
    new_payload = base64.urlsafe_b64encode(changed).rstrip(b"=").decode("ascii")
    return f"{header}.{new_payload}.{signature}"


def test_pyjwt_accepts_minted_token(
    certificates: CertificateAndKeyManagement, cert_name: str, certificate: x509.Certificate
) -> None:
    token = _mint(certificates, cert_name)
    assert pyjwt.get_unverified_header(token) == {"alg": "RS256"}
    claims = pyjwt.decode(
        token,
        _public_key(certificate),
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "nbf", "iss", "sub", "aud"]},
    )
    assert claims["sub"] == SUBJECT
    assert claims["parameters"] == {"recordId": "001000000000001AAA"}
    assert claims["exp"] - claims["nbf"] == 300 + 5


def test_joserfc_accepts_minted_token(
    certificates: CertificateAndKeyManagement, cert_name: str, certificate: x509.Certificate
) -> None:
    token = _mint(certificates, cert_name)
    key = RSAKey.import_key(_public_key(certificate))
    decoded = jose_jwt.decode(token, key, algorithms=["RS256"])
    assert decoded.header == {"alg": "RS256"}
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True, "value": SUBJECT},
        exp={"essential": True},
        nbf={"essential": True},
    )
    registry.validate(decoded.claims)  # raises on any failed check
    assert decoded.claims["scope"] == "api"


def test_pyjwt_rejects_tampered_payload(
    certificates: CertificateAndKeyManagement, cert_name: str, certificate: x509.Certificate
) -> None:
    tampered = _tamper(_mint(certificates, cert_name))
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(tampered, _public_key(certificate), algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)


def test_joserfc_rejects_tampered_payload(
    certificates: CertificateAndKeyManagement, cert_name: str, certificate: x509.Certificate
) -> None:
    tampered = _tamper(_mint(certificates, cert_name))
    with pytest.raises(BadSignatureError):
        jose_jwt.decode(tampered, RSAKey.import_key(_public_key(certificate)), algorithms=["RS256"])


def test_both_reject_a_token_from_another_org_key(
    certificates: CertificateAndKeyManagement, cert_name: str, other_rsa_key: RSAPrivateKey
) -> None:
    token = _mint(certificates, cert_name)
    wrong = other_rsa_key.public_key()
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token, wrong, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    with pytest.raises(BadSignatureError):
        jose_jwt.decode(token, RSAKey.import_key(wrong), algorithms=["RS256"])
