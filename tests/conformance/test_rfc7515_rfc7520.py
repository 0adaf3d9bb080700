"""Known answers from RFC 7515 Appendix A and the RFC 7520 JOSE Cookbook, through forcegate's API.

Verification runs through ``forcegate.keys`` (JWK loading) and ``forcegate.core`` (JWS and JWT
verification). Minting is checked too: RS256 is deterministic, so the emulated ``Auth.JWS`` must
reproduce RFC 7515 A.2 — whose header happens to be exactly Apex's ``{"alg":"RS256"}`` — to the
byte.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.core.algorithms import SUPPORTED_ALGORITHMS
from forcegate.core.jws import JWSVerifier
from forcegate.core.jwt import verify_jwt
from forcegate.core.trusted_key import TrustedKey
from forcegate.devtools.apex_jwt import AuthJWS, CertificateAndKeyManagement
from forcegate.errors import (
    InvalidSignature,
    MalformedToken,
    MissingClaim,
    TokenExpired,
    UnsupportedAlgorithm,
    UnsupportedCriticalHeader,
)
from forcegate.keys import Keystore, key_from_jwk, trusted_keys
from helpers import VECTORS, self_signed

JOSE = VECTORS / "jose"
APPENDIX_A: dict[str, dict[str, str]] = json.loads(
    (JOSE / "rfc7515_appendix_a" / "rfc7515_appendix_a.json").read_text()
)["examples"]
COOKBOOK = JOSE / "ietf-jose-cookbook"


def keys_from_jwk(jwk: dict[str, Any]) -> list[TrustedKey]:
    return trusted_keys(Keystore(entries=(key_from_jwk(jwk),)))


def appendix(example: str) -> tuple[list[TrustedKey], str, dict[str, str]]:
    values = APPENDIX_A[example]
    prefix = example.lower() + ".1."
    jwk = json.loads(values[prefix + "jwk+json"])
    return (
        keys_from_jwk(jwk),
        values.get(prefix + "compact", ""),
        {k.removeprefix(prefix): v for k, v in values.items()},
    )


@pytest.mark.parametrize(("example", "alg"), [("A.1", "HS256"), ("A.2", "RS256"), ("A.3", "ES256"), ("A.4", "ES512")])
def test_appendix_a_verifies(example: str, alg: str) -> None:
    keys, compact, values = appendix(example)
    result = JWSVerifier(algorithms=[alg]).verify(compact, keys)
    assert result.algorithm == alg
    assert result.payload == values["payload"].encode()


@pytest.mark.parametrize("example", ["A.1", "A.2", "A.3", "A.4"])
def test_appendix_a_tampering_is_detected(example: str) -> None:
    keys, compact, _ = appendix(example)
    head, payload, signature = compact.split(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises((InvalidSignature, MalformedToken)):
        JWSVerifier(algorithms=SUPPORTED_ALGORITHMS).verify(f"{head}.{tampered}.{signature}", keys)


def test_appendix_a5_unsecured_jws_is_rejected() -> None:
    values = APPENDIX_A["A.5"]
    compact = values.get("a.5.1.compact") or next(v for k, v in values.items() if k.endswith("compact"))
    _, a2_compact, _ = appendix("A.2")
    keys, _, _ = appendix("A.2")
    with pytest.raises(MalformedToken):  # empty signature segment
        JWSVerifier(algorithms=SUPPORTED_ALGORITHMS).verify(compact, keys)
    # "none" with a non-empty signature is refused by the allow-list, whatever it contains
    head = compact.split(".")[0]
    forged = f"{head}.{a2_compact.split('.')[1]}.{a2_compact.split('.')[2]}"
    with pytest.raises(UnsupportedAlgorithm):
        JWSVerifier(algorithms=SUPPORTED_ALGORITHMS).verify(forged, keys)


def test_appendix_a2_is_not_an_acceptable_jwt() -> None:
    # Its claims (iss "joe", exp 2011, no aud) verify as a JWS but fail the JWT policy: the audience
    # rule comes first (order of forcegate.core.jwt), and expiry is next when an audience matches.
    keys, compact, _ = appendix("A.2")
    with pytest.raises(MissingClaim, match="aud"):
        verify_jwt(compact, keys=keys, audiences=["https://forcegate.example.com/oauth2/token"])
    values = APPENDIX_A["A.2"]
    jwk = json.loads(values["a.2.1.jwk+json"])
    private = key_from_jwk(jwk).private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    claims = json.loads(values["a.2.1.payload"]) | {"aud": "urn:test", "sub": "joe"}
    org = _org_with(private)
    token = AuthJWS(json.dumps(claims), "rfc7515", certificates=org).compact_serialization()
    with pytest.raises(TokenExpired):
        verify_jwt(token, keys=keys, audiences=["urn:test"], clock=FixedClock(dt.datetime.now(dt.UTC).timestamp()))
    pinned = verify_jwt(token, keys=keys, audiences=["urn:test"], clock=FixedClock(1300819380 - 100), max_lifetime=300)
    assert pinned.claims["http://example.com/is_root"] is True


def _org_with(private_key: rsa.RSAPrivateKey) -> CertificateAndKeyManagement:
    org = CertificateAndKeyManagement()
    org.add("rfc7515", private_key=private_key, certificate=self_signed(private_key, cn="rfc7515"))
    return org


def test_appendix_a2_is_reproduced_by_the_apex_signer() -> None:
    values = APPENDIX_A["A.2"]
    jwk = json.loads(values["a.2.1.jwk+json"])
    entry = key_from_jwk(jwk)
    assert isinstance(entry.private_key, rsa.RSAPrivateKey)
    org = _org_with(entry.private_key)
    assert (
        AuthJWS(values["a.2.1.payload"], "rfc7515", certificates=org).compact_serialization() == values["a.2.1.compact"]
    )


COOKBOOK_COMPACT = [
    ("jws/4_1.rsa_v15_signature.json", "RS256"),
    ("jws/4_2.rsa-pss_signature.json", "PS384"),
    ("jws/4_3.ecdsa_signature.json", "ES512"),
    ("jws/4_4.hmac-sha2_integrity_protection.json", "HS256"),
    ("curve25519/jws.json", "EdDSA"),
]


@pytest.mark.parametrize(("path", "alg"), COOKBOOK_COMPACT)
def test_cookbook_compact_examples_verify(path: str, alg: str) -> None:
    example = json.loads((COOKBOOK / path).read_text())
    keys = keys_from_jwk(example["input"]["key"])
    result = JWSVerifier(algorithms=[alg]).verify(example["output"]["compact"], keys)
    assert result.payload == example["input"]["payload"].encode()
    # and only with that algorithm allowed
    with pytest.raises(UnsupportedAlgorithm):
        JWSVerifier(algorithms=[a for a in SUPPORTED_ALGORITHMS if a != alg]).verify(example["output"]["compact"], keys)


def test_cookbook_detached_content_is_not_accepted_as_empty_payload() -> None:
    example = json.loads((COOKBOOK / "jws/4_5.signature_with_detached_content.json").read_text())
    with pytest.raises(InvalidSignature):
        JWSVerifier(algorithms=["HS256"]).verify(example["output"]["compact"], keys_from_jwk(example["input"]["key"]))


def test_cookbook_rfc7797_unencoded_payload_is_refused() -> None:
    example = json.loads((COOKBOOK / "rfc7797/hmac-sha2_b64_false.json").read_text())
    with pytest.raises(UnsupportedCriticalHeader):
        JWSVerifier(algorithms=["HS256"]).verify(example["output"]["compact"], keys_from_jwk(example["input"]["key"]))


def test_cookbook_json_only_examples_have_no_compact_form() -> None:
    # 4.6 to 4.8 use unprotected headers or several signatures: the compact serialization (the only one
    # forcegate accepts) cannot express them, so there is nothing to verify — assert that is so.
    for path in (
        "jws/4_6.protecting_specific_header_fields.json",
        "jws/4_7.protecting_content_only.json",
        "jws/4_8.multiple_signatures.json",
    ):
        assert "compact" not in json.loads((COOKBOOK / path).read_text())["output"]
