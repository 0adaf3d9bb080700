from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from forcegate.core.canvas import verify_signed_request
from forcegate.devtools.canvas_signer import build_envelope, sign_envelope
from helpers import Runner

ORG = "00D5g000004ABCDEA4"
USER = "0055g00000AbCdEAAV"
SECRET = "6C2B1A9F0E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B3A2F1E0D9C8B7A6F5E4D3C2B1"
PREVIOUS = "previous-consumer-secret-0123456789"


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FG_TEST_SECRET", SECRET)
    monkeypatch.setenv("FG_TEST_PREVIOUS", PREVIOUS)


@pytest.fixture
def envelope() -> dict[str, object]:
    return build_envelope(org_id=ORG, user_id=USER, parameters={"orderId": "A-1", "mode": "edit"})


def test_sign_then_verify_round_trip(forcegate: Runner, envelope: dict[str, object]) -> None:
    signed = forcegate("canvas", "sign", "--secret-env", "FG_TEST_SECRET", stdin=json.dumps(envelope))
    assert signed.code == 0, signed.err
    signed_request = signed.out.strip()
    assert verify_signed_request(signed_request, [SECRET]).environment.parameters["orderId"] == "A-1"
    verified = forcegate("canvas", "verify", "--secret-env", "FG_TEST_SECRET", stdin=signed_request)
    assert verified.code == 0, verified.err
    assert json.loads(verified.out) == envelope


def test_sign_from_file_with_secret_file(forcegate: Runner, envelope: dict[str, object], tmp_path: Path) -> None:
    (tmp_path / "envelope.json").write_text(json.dumps(envelope))
    (tmp_path / "secret").write_text(SECRET + "\n")  # the trailing newline is not part of the secret
    outcome = forcegate("canvas", "sign", "--secret-file", str(tmp_path / "secret"), str(tmp_path / "envelope.json"))
    assert outcome.code == 0, outcome.err
    assert outcome.out.strip() == sign_envelope(envelope, SECRET)


def test_verify_accepts_the_form_body_salesforce_posts(forcegate: Runner, envelope: dict[str, object]) -> None:
    body = urllib.parse.urlencode({"signed_request": sign_envelope(envelope, SECRET)})
    outcome = forcegate("canvas", "verify", "--secret-env", "FG_TEST_SECRET", stdin=body)
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["context"]["environment"]["parameters"]["mode"] == "edit"


def test_verify_during_rotation_tries_every_secret(forcegate: Runner, envelope: dict[str, object]) -> None:
    old = sign_envelope(envelope, PREVIOUS)
    outcome = forcegate(
        "canvas", "verify", "--secret-env", "FG_TEST_SECRET", "--secret-env", "FG_TEST_PREVIOUS", stdin=old
    )
    assert outcome.code == 0, outcome.err
    only_current = forcegate("canvas", "verify", "--secret-env", "FG_TEST_SECRET", stdin=old)
    assert only_current.code == 1
    assert only_current.err.startswith("forcegate: canvas_signature_invalid: ")


def test_verify_tampered_payload_is_rejected(forcegate: Runner, envelope: dict[str, object]) -> None:
    signature, _ = sign_envelope(envelope, SECRET).split(".", 1)
    tampered = sign_envelope({**envelope, "userId": "005000000000001"}, SECRET).split(".", 1)[1]
    outcome = forcegate("canvas", "verify", "--secret-env", "FG_TEST_SECRET", stdin=f"{signature}.{tampered}")
    assert outcome.code == 1
    assert outcome.out == ""
    assert SECRET not in outcome.err


def test_verify_garbage(forcegate: Runner) -> None:
    outcome = forcegate("canvas", "verify", "--secret-env", "FG_TEST_SECRET", stdin="no-dot-here")
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: malformed_signed_request: ")


def test_secret_is_required(forcegate: Runner) -> None:
    assert forcegate("canvas", "verify", stdin="a.b").code == 2
    assert forcegate("canvas", "sign", stdin="{}").code == 2


def test_unset_secret_variable_is_exit_2(forcegate: Runner) -> None:
    outcome = forcegate("canvas", "verify", "--secret-env", "FG_TEST_NOT_SET", stdin="a.b")
    assert outcome.code == 2
    assert outcome.err == "forcegate: unreadable_input: environment variable FG_TEST_NOT_SET is not set\n"


def test_sign_rejects_non_json(forcegate: Runner) -> None:
    assert forcegate("canvas", "sign", "--secret-env", "FG_TEST_SECRET", stdin="not json").code == 2
    assert forcegate("canvas", "sign", "--secret-env", "FG_TEST_SECRET", stdin="[1]").code == 2
