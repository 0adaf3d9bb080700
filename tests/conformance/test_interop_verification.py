"""Tokens minted by independent JOSE libraries (PyJWT, joserfc) in Apex's shape verify here.

The other direction — tokens minted by forcegate's Apex emulator verifying in those libraries — is
in tests/salesforce/test_interop_minting.py.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws as joserfc_jws
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey, RSAKey

from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import InvalidSignature, TokenExpired

ORG = "00D5g000004ABCDEA4"
AUD = "https://forcegate.example.com/oauth2/token"


def apex_claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ORG,
        "sub": "integration@example.com",
        "aud": AUD,
        "exp": now + 300,
        "nbf": now,
        "org_id": ORG,
        "params": {"recordId": "0015g00000XyZabAAF"},
        **extra,
    }


def header_of(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return decoded


def verifier_for(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, *, alg: str = "RS256") -> JWTVerifier:
    policy = JWTPolicy(audiences=frozenset({AUD}), issuers=frozenset({ORG}), algorithms=frozenset({alg}))
    return JWTVerifier(policy=policy, keys=[TrustedKey(public_key)])


def test_pyjwt_token_in_apex_shape_verifies(rsa_key: rsa.RSAPrivateKey) -> None:
    token = pyjwt.encode(apex_claims(), rsa_key, algorithm="RS256", headers={"typ": None})
    assert header_of(token) == {"alg": "RS256"}
    result = verifier_for(rsa_key.public_key()).verify(token)
    assert result.claims["params"] == {"recordId": "0015g00000XyZabAAF"}


def test_joserfc_token_in_apex_shape_verifies(rsa_key: rsa.RSAPrivateKey) -> None:
    key = RSAKey.import_key(rsa_key)
    # joserfc's jwt.encode adds "typ"; its JWS layer signs exactly the header it is given.
    token = joserfc_jws.serialize_compact({"alg": "RS256"}, json.dumps(apex_claims()).encode(), key)
    assert header_of(token) == {"alg": "RS256"}
    assert verifier_for(rsa_key.public_key()).verify(token).subject == "integration@example.com"
    token = joserfc_jwt.encode({"alg": "RS256"}, apex_claims(), key)  # with its "typ": also fine
    assert verifier_for(rsa_key.public_key()).verify(token).subject == "integration@example.com"


def test_joserfc_es256_verifies_when_configured(ec_key: ec.EllipticCurvePrivateKey) -> None:
    token = joserfc_jwt.encode({"alg": "ES256"}, apex_claims(), ECKey.import_key(ec_key))
    assert verifier_for(ec_key.public_key(), alg="ES256").verify(token).algorithm == "ES256"


def test_independent_tokens_with_a_stranger_key_fail(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    token = pyjwt.encode(apex_claims(), other_rsa_key, algorithm="RS256")
    with pytest.raises(InvalidSignature):
        verifier_for(rsa_key.public_key()).verify(token)


def test_independent_expired_token_fails(rsa_key: rsa.RSAPrivateKey) -> None:
    token = pyjwt.encode(apex_claims(exp=int(time.time()) - 120), rsa_key, algorithm="RS256")
    with pytest.raises(TokenExpired):
        verifier_for(rsa_key.public_key()).verify(token)
