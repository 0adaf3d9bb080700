"""The registry's policy holds whichever way a request comes in: the same verdict from the CLI and the admin API.

Before the registry service existed, `forcegate certs add` checked key strength and expiry but the
admin API stored a 1024-bit certificate, an expired one and one with public exponent 3 (201 each),
and took " ", "\\t\\n" and "a" as consumer secrets. Every case below runs once per entry. The
enrollment queue (`forcegate enrollments`, `/admin/api/v1/enrollments`) is held to one rule the same
way, and the `/enroll` pages refuse the certificates `certs add` refuses, with the same codes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from forcegate.clock import FixedClock
from forcegate.devtools import SalesforceEmulator, running_emulator
from helpers import self_signed
from registry.entries import EnrollPages, Entry, Verdict
from server.live import start_server

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


# --- enrollments: the queue ----------------------------------------------------------------------


def _state(verdict: Verdict) -> str:
    """An enrollment's state in a verdict's body (the CLI's ``--json`` text, the admin API's object)."""
    body = json.loads(verdict.body) if isinstance(verdict.body, str) else verdict.body
    return str(body["state"])


def test_enrollment_decisions_have_one_rule(entry: Entry, rsa_key: rsa.RSAPrivateKey) -> None:
    """Approve, reject and show give the same verdicts from the CLI and the admin API."""
    first = entry.start_enrollment(ORG, self_signed(rsa_key))
    approved = entry.approve_enrollment(first)
    assert approved.ok
    assert _state(approved) == "approved"  # before its proof: the proof will activate it
    assert entry.approve_enrollment(first).refused == "enrollment_state_conflict"  # approved before its proof
    assert entry.reject_enrollment(first, "not a customer").ok  # still open: it can be rejected
    assert entry.reject_enrollment(first).refused == "enrollment_state_conflict"
    assert entry.approve_enrollment(first).refused == "enrollment_state_conflict"
    assert entry.show_enrollment(first).ok
    for unknown in ("enr_" + "a" * 20, "enr_nope", "not-an-id"):
        assert entry.show_enrollment(unknown).refused == "not_found"
        assert entry.approve_enrollment(unknown).refused == "not_found"
        assert entry.reject_enrollment(unknown).refused == "not_found"


@pytest.mark.parametrize("reason", ["x" * 300, "evil\u202egnp.exe", "a\x1b[2Jb"])
def test_a_rejection_reason_has_one_rule(entry: Entry, rsa_key: rsa.RSAPrivateKey, reason: str) -> None:
    enrollment_id = entry.start_enrollment(ORG, self_signed(rsa_key))
    assert entry.reject_enrollment(enrollment_id, reason).refused == "invalid_input"
    assert entry.reject_enrollment(enrollment_id, "a plain reason").ok  # the refusal changed nothing


# --- enrollments: the /enroll pages apply the certificate policy of `certs add` ---------------------


@pytest.fixture
def pages(tmp_path: Path, clock: FixedClock) -> Iterator[EnrollPages]:
    emulator = SalesforceEmulator(clock)
    emulator.add_user(ORG, "0055g00000AbCdEAAV", "admin@acme.example", permissions=("CustomizeApplication",))
    with running_emulator(emulator) as login:
        server = start_server(
            tmp_path / "pages-data",
            clock=clock,
            enrollment_client_id="3MVG9_policy_enrollment",
            enrollment_client_secret="policy-enrollment-secret-0123456789",
            enrollment_login_hosts=(login,),
        )
        emulator.web.add_web_app("3MVG9_policy_enrollment", "policy-enrollment-secret-0123456789",
                                 server.url + "/enroll/callback")  # fmt: skip
        try:
            yield EnrollPages(server, emulator, login, "admin@acme.example")
        finally:
            server.stop()


def test_the_enroll_pages_refuse_what_certs_add_refuses(
    entry: Entry,
    pages: EnrollPages,
    weak_rsa_key: rsa.RSAPrivateKey,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    cases = {
        "1024-bit RSA": self_signed(weak_rsa_key),
        "exponent 3": self_signed(rsa.generate_private_key(public_exponent=3, key_size=2048)),
        "expired": self_signed(rsa_key, start=NOW - dt.timedelta(days=400), days=365),
        "EC key, RS256 org": self_signed(ec_key),
    }
    assert entry.add_org(ORG).ok
    verdicts = {name: (entry.add_certificate(ORG, cert).refused, pages.add_certificate(cert).refused)
                for name, cert in cases.items()}  # fmt: skip
    assert verdicts == {
        "1024-bit RSA": ("weak_key", "weak_key"),
        "exponent 3": ("weak_key", "weak_key"),
        "expired": ("certificate_expired", "certificate_expired"),
        "EC key, RS256 org": ("key_algorithm_mismatch", "key_algorithm_mismatch"),
    }


def test_the_enroll_pages_never_share_a_certificate(
    entry: Entry, pages: EnrollPages, rsa_key: rsa.RSAPrivateKey
) -> None:
    """`certs add` shares only when asked; enrollment never does, and refuses with the same code."""
    certificate = self_signed(rsa_key)
    with pages.server.admin() as admin:  # trusted for another org on the pages' server too
        assert admin.post("/admin/api/v1/orgs", json={"org_id": OTHER_ORG}).status_code == 201
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        added = admin.post(f"/admin/api/v1/orgs/{OTHER_ORG}/certificates", json={"certificate": pem})
        assert added.status_code == 201, added.text
    assert entry.add_org(ORG).ok
    assert entry.add_org(OTHER_ORG).ok
    assert entry.add_certificate(OTHER_ORG, certificate).ok
    assert entry.add_certificate(ORG, certificate).refused == "certificate_shared"
    assert pages.add_certificate(certificate).refused == "certificate_shared"
    assert pages.add_certificate(self_signed(rsa.generate_private_key(65537, 2048))).ok
