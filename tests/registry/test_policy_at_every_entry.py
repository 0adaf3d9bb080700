"""The registry's policy holds whichever way a request comes in: the same verdict from the CLI and the admin API.

Before the registry service existed, `forcegate certs add` checked key strength and expiry but the
admin API stored a 1024-bit certificate, an expired one and one with public exponent 3 (201 each),
and took " ", "\\t\\n" and "a" as consumer secrets. Every case below runs once per entry.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from helpers import self_signed
from registry.entries import Entry

ORG = "00D5g000004ABCDEA4"
OTHER_ORG = "00D5g000004XYZWEA4"
KEY = "3MVG9_policy_app"
NOW = dt.datetime.now(dt.UTC)


# --- certificates ----------------------------------------------------------------------------------


def test_a_1024_bit_rsa_certificate_is_refused(entry: Entry, weak_rsa_key: rsa.RSAPrivateKey) -> None:
    assert entry.add_org(ORG).ok
    assert entry.add_certificate(ORG, self_signed(weak_rsa_key)).refused == "weak_key"
    assert entry.org(ORG)["certificates"] == []


def test_public_exponent_3_is_refused(entry: Entry) -> None:
    key = rsa.generate_private_key(public_exponent=3, key_size=2048)
    assert entry.add_org(ORG).ok
    verdict = entry.add_certificate(ORG, self_signed(key))
    assert verdict.refused == "weak_key"
    assert "exponent 3 is not 65537" in str(verdict.body)


def test_an_expired_certificate_is_refused(entry: Entry, rsa_key: rsa.RSAPrivateKey) -> None:
    assert entry.add_org(ORG).ok
    expired = self_signed(rsa_key, start=NOW - dt.timedelta(days=400), days=365)
    assert entry.add_certificate(ORG, expired).refused == "certificate_expired"
    assert entry.org(ORG)["certificates"] == []


def test_a_certificate_not_valid_yet_may_be_stored(entry: Entry, rsa_key: rsa.RSAPrivateKey) -> None:
    """It is stored (an admin may register a successor ahead of time); the verifier ignores it until
    its notBefore, minus the leeway (tests/core and tests/server check that side)."""
    assert entry.add_org(ORG).ok
    assert entry.add_certificate(ORG, self_signed(rsa_key, start=NOW + dt.timedelta(days=3))).ok
    [stored] = entry.org(ORG)["certificates"]
    assert stored["state"] == "active"


def test_a_key_the_orgs_algorithms_cannot_use_is_refused(entry: Entry, ec_key: ec.EllipticCurvePrivateKey) -> None:
    assert entry.add_org(ORG).ok  # RS256 only, by default
    assert entry.add_certificate(ORG, self_signed(ec_key)).refused == "key_algorithm_mismatch"
    assert entry.update_org(ORG, algorithms=["RS256", "ES256"]).ok
    assert entry.add_certificate(ORG, self_signed(ec_key)).ok


def test_an_ed25519_certificate_for_an_eddsa_org(entry: Entry, ed_key: ed25519.Ed25519PrivateKey) -> None:
    assert entry.add_org(ORG, algorithms=["EdDSA"]).ok
    assert entry.add_certificate(ORG, self_signed(ed_key)).ok
    assert entry.org(ORG)["algorithms"] == ["EdDSA"]


def test_a_p192_certificate_is_refused(entry: Entry) -> None:
    key = ec.generate_private_key(ec.SECP256K1())  # a curve JOSE does not use for ES256
    assert entry.add_org(ORG, algorithms=["ES256"]).ok
    assert entry.add_certificate(ORG, self_signed(key)).refused == "weak_key"


# --- sharing -----------------------------------------------------------------------------------------


def test_a_certificate_of_another_org_is_shared_only_when_asked(entry: Entry, rsa_key: rsa.RSAPrivateKey) -> None:
    certificate = self_signed(rsa_key)
    assert entry.add_org(ORG).ok
    assert entry.add_org(OTHER_ORG).ok
    assert entry.add_certificate(ORG, certificate).ok
    assert entry.add_certificate(OTHER_ORG, certificate).refused == "certificate_shared"
    assert entry.org(OTHER_ORG)["certificates"] == []
    assert entry.org(ORG)["certificates"][0]["shared"] is False
    assert entry.add_certificate(OTHER_ORG, certificate, shared=True).ok
    # Flagged for every org holding it: any of them can sign as the others.
    assert entry.org(ORG)["certificates"][0]["shared"] is True
    assert entry.org(OTHER_ORG)["certificates"][0]["shared"] is True


# --- consumer secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [" ", "\t\n", "a", "short-secret", " padded-secret-1234 ", "secret\x07with-a-bell"])
def test_weak_consumer_secrets_are_refused(entry: Entry, secret: str) -> None:
    verdict = entry.add_app(KEY, secret)
    assert verdict.refused == "weak_secret"
    assert secret.strip() not in str(verdict.body) or len(secret.strip()) < 2  # the secret is never echoed
    assert entry.add_app(KEY, "a-consumer-secret-of-good-length").ok  # nothing was stored before
    assert entry.rotate_secret(KEY, secret).refused == "weak_secret"


@pytest.mark.parametrize(
    "secret",
    [
        "1234567890123456789",  # an older Connected App's 19-digit decimal secret
        "0f" * 32,  # a newer one's 64 hexadecimal characters
    ],
)
def test_salesforce_secret_formats_are_accepted(entry: Entry, secret: str) -> None:
    assert entry.add_app(KEY, secret).ok
    assert entry.rotate_secret(KEY, secret[::-1]).ok


# --- orgs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["RS257"]])
def test_org_algorithms_are_asymmetric_jws_algorithms(entry: Entry, algorithms: list[str]) -> None:
    assert entry.add_org(ORG, algorithms=algorithms).refused == "invalid_input"


def test_names_refuse_control_and_bidi_characters(entry: Entry) -> None:
    assert entry.add_org(ORG, name="evil\u202egnp.exe").refused == "invalid_input"
    assert entry.add_app(KEY, "a-consumer-secret-of-good-length", name="x\x1b[2Jy").refused == "invalid_input"


@pytest.mark.parametrize(
    ("field", "value"), [("scopes", "two words"), ("token_lifetime", 0), ("token_lifetime", 86_401)]
)
def test_org_fields_have_one_rule(entry: Entry, field: str, value: object) -> None:
    assert entry.add_org(ORG, **{field: value}).refused == "invalid_input"
