from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import Runner

ORG = "00D5g000004ABCDEA4"
AUD = "https://forcegate.example.com/oauth2/token"


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from forcegate.keys import generate_certificate, write_bundle

    directory = tmp_path_factory.mktemp("jwt")
    write_bundle(generate_certificate(cn="org"), directory=directory, name="org", password=b"keystore-pass")
    write_bundle(generate_certificate(cn="other"), directory=directory, name="other", password=b"keystore-pass")
    return directory


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FG_TEST_PW", "keystore-pass")


def mint(forcegate: Runner, keydir: Path, *extra: str, key: str = "org.jks") -> str:
    outcome = forcegate(
        "jwt",
        "mint",
        "--key",
        str(keydir / key),
        "--password-env",
        "FG_TEST_PW",
        "--iss",
        ORG,
        "--sub",
        "user@example.com",
        "--aud",
        AUD,
        *extra,
    )
    assert outcome.code == 0, outcome.err
    return outcome.out.strip()


def test_mint_produces_apex_shaped_token(forcegate: Runner, keydir: Path) -> None:
    token = mint(forcegate, keydir, "--claim", 'params={"recordId":"001"}', "--validity", "120", "--nbf-skew", "30")
    head, payload, _ = token.split(".")
    assert base64.urlsafe_b64decode(head + "==") == b'{"alg":"RS256"}'
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    now = time.time()
    assert claims["iss"] == ORG
    assert claims["params"] == {"recordId": "001"}
    assert abs(claims["exp"] - (now + 120)) < 5
    assert abs(claims["nbf"] - (now - 30)) < 5
    # An independent library accepts it with the certificate's key.
    certificate = x509.load_pem_x509_certificate((keydir / "org.crt").read_bytes())
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    decoded = pyjwt.decode(token, public_key, algorithms=["RS256"], audience=AUD)
    assert decoded["sub"] == "user@example.com"


@pytest.mark.parametrize("key", ["org.p12", "org.key.pem"])
def test_mint_from_other_key_formats(forcegate: Runner, keydir: Path, key: str) -> None:
    token = mint(forcegate, keydir, key=key)
    verified = forcegate("jwt", "verify", "--key", str(keydir / "org.crt"), "--aud", AUD, stdin=token)
    assert verified.code == 0, verified.err


def test_verify_prints_claims(forcegate: Runner, keydir: Path) -> None:
    token = mint(forcegate, keydir, "--claim", 'org_id="' + ORG + '"')
    outcome = forcegate("jwt", "verify", "--key", str(keydir / "org.crt"), "--aud", AUD, "--iss", ORG, stdin=token)
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["org_id"] == ORG


def test_verify_from_a_file(forcegate: Runner, keydir: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token.jwt"
    token_file.write_text(mint(forcegate, keydir) + "\n")
    outcome = forcegate("jwt", "verify", "--key", str(keydir / "org.crt"), "--aud", AUD, str(token_file))
    assert outcome.code == 0, outcome.err


def test_verify_with_rotation_keys(forcegate: Runner, keydir: Path) -> None:
    token = mint(forcegate, keydir, key="other.jks")
    outcome = forcegate(
        "jwt", "verify", "--key", str(keydir / "org.crt"), "--key", str(keydir / "other.crt"), "--aud", AUD, stdin=token
    )
    assert outcome.code == 0, outcome.err


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--aud", "https://elsewhere.example.com"], "invalid_audience"),
        (["--aud", AUD, "--iss", "00D000000000000EAA"], "unknown_issuer"),
        (["--aud", AUD, "--alg", "ES256"], "unsupported_algorithm"),
    ],
)
def test_verify_rejections_exit_1_with_one_line(forcegate: Runner, keydir: Path, args: list[str], code: str) -> None:
    token = mint(forcegate, keydir)
    outcome = forcegate("jwt", "verify", "--key", str(keydir / "org.crt"), *args, stdin=token)
    assert outcome.code == 1
    assert outcome.out == ""
    assert outcome.err.startswith(f"forcegate: {code}: ")
    assert outcome.err.count("\n") == 1


def test_verify_wrong_key_is_invalid_signature(forcegate: Runner, keydir: Path) -> None:
    token = mint(forcegate, keydir)
    outcome = forcegate("jwt", "verify", "--key", str(keydir / "other.crt"), "--aud", AUD, stdin=token)
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: invalid_signature: ")


def test_verify_expired(forcegate: Runner, keydir: Path) -> None:
    token = mint(forcegate, keydir, "--validity", "1")
    time.sleep(2.1)
    outcome = forcegate("jwt", "verify", "--key", str(keydir / "org.crt"), "--aud", AUD, "--leeway", "0", stdin=token)
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: token_expired: ")


def test_verify_needs_an_audience(forcegate: Runner, keydir: Path) -> None:
    assert forcegate("jwt", "verify", "--key", str(keydir / "org.crt"), stdin="x.y.z").code == 2


def test_verify_garbage_token_is_a_rejection(forcegate: Runner, keydir: Path) -> None:
    outcome = forcegate("jwt", "verify", "--key", str(keydir / "org.crt"), "--aud", AUD, stdin="not a token")
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: malformed_token: ")


@pytest.mark.parametrize(
    ("claim", "code", "message"),
    [
        ("exp=1", 1, "forcegate: invalid_additional_claim: "),  # Auth.JWT refuses standard claim names
        ("name=bare words", 2, "Error: --claim name: the value is not JSON"),
    ],
)
def test_mint_claim_rules(forcegate: Runner, keydir: Path, claim: str, code: int, message: str) -> None:
    outcome = forcegate(
        "jwt", "mint", "--key", str(keydir / "org.jks"), "--password-env", "FG_TEST_PW",
        "--iss", ORG, "--sub", "u", "--aud", AUD, "--claim", claim,
    )  # fmt: skip
    assert outcome.code == code
    assert message in outcome.err


def test_mint_without_password_for_an_encrypted_keystore(forcegate: Runner, keydir: Path) -> None:
    outcome = forcegate("jwt", "mint", "--key", str(keydir / "org.jks"), "--iss", ORG, "--sub", "u", "--aud", AUD)
    assert outcome.code == 2
    assert outcome.err.startswith("forcegate: keystore_password: ")
