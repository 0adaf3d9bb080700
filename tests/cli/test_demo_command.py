"""``forcegate demo`` for real: a served process, every path, and nothing left behind on any way out."""

from __future__ import annotations

import os
import re
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from blocked_imports import run_forcegate
from forcegate.devtools import setup_page
from forcegate.devtools.demo import named_credential_step, onboarding, outbound, run, steps
from forcegate.devtools.demo.org import DemoOrg
from forcegate.devtools.demo.report import Reporter, redact
from forcegate.devtools.demo.service import DemoError
from helpers import Outcome, Runner

HEADINGS = [
    "== 1. Start forcegate serve on a temporary data folder ==",
    f"== 2. {steps.STEP_REGISTER} ==",
    f"== 3. {steps.STEP_CANVAS} ==",
    f"== 4. {steps.STEP_APEX} ==",
    f"== 5. {steps.STEP_DIRECT} ==",
    f"== 6. {named_credential_step.STEP_NAMED_CREDENTIAL} ==",
    f"== 7. {steps.STEP_SAME_SHAPE} ==",
    f"== 8. {outbound.STEP_OUTBOUND} ==",
    f"== 9. {onboarding.STEP_ENROLL} ==",
    f"== 10. {onboarding.STEP_PROOF} ==",
    f"== 11. {onboarding.STEP_APPROVE} ==",
    f"== 12. {onboarding.STEP_CALL} ==",
    f"== 13. {onboarding.STEP_ROTATE} ==",
    f"== 14. {onboarding.STEP_EXPIRY} ==",
    f"== 15. {run.STEP_AUDIT} ==",
]
ENROLLMENT_CODE = re.compile(r"enr_[a-z2-7]{20}\.[A-Za-z0-9_-]{20,}")
SERVICE_LINE = re.compile(r"forcegate serve \(pid (\d+)\) is ready at http://127\.0\.0\.1:(\d+)")
FULL_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the demo's temporary folder is made, so a test can see whether it was removed."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _service(out: str) -> tuple[int, int]:
    found = SERVICE_LINE.search(out)
    assert found, out
    return int(found[1]), int(found[2])


def _section(out: str, index: int) -> str:
    end = out.index(HEADINGS[index + 1]) if index + 1 < len(HEADINGS) else len(out)
    return out[out.index(HEADINGS[index]) : end]


def _assert_nothing_left(outcome: Outcome, temp_root: Path) -> None:
    pid, port = _service(outcome.out)
    # Its whole process group is gone (killpg with signal 0 only checks), and nothing listens.
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert list(temp_root.iterdir()) == []


def test_demo_plays_every_path_and_leaves_nothing(forcegate: Runner, temp_root: Path) -> None:
    started = time.monotonic()
    outcome = forcegate("demo")
    assert outcome.code == 0, outcome.err
    assert time.monotonic() - started < 10
    out = outcome.out
    positions = [out.index(heading) for heading in HEADINGS]
    assert positions == sorted(positions)
    for source in ("canvas", "jwt-bearer", "jwt"):
        assert f"      source       {source}\n" in out
    assert out.count("      org_id       00D5g000004ABCDEA4\n") == 4  # three paths and the Named Credential
    assert out.count('      parameters   {"region": "EMEA", "view": "open-orders"}\n') == 3
    # After logout the same Canvas request is refused: the liveness check asked the emulated userinfo.
    canvas = _section(out, 2)
    assert canvas.index("<- 303 See Other") < canvas.index("<- 401 Unauthorized (an HTML error page)")
    # The replay is refused.
    direct = _section(out, 4)
    assert direct.count("<- 200 OK") == 1
    assert "<- 401 Unauthorized" in direct
    # The other callout mode: the platform's JWT (iss the package's issuer, org_id the org) exchanged.
    named = _section(out, 5)
    assert '"iss":"forcegate-package"' in named
    assert '"org_id":"00D5g000004ABCDEA4"' in named
    assert '{"alg":"RS256","typ":"JWT","kid":"Forcegate"}' in named
    assert "      source       jwt-bearer\n" in named
    # The service logs in to Salesforce, and once more after the session is revoked.
    salesforce = _section(out, 7)
    assert salesforce.count("-> POST http://127.0.0.1:") == 2
    assert "INVALID_SESSION_ID" in salesforce
    # A second org enrolls itself: sign-in, upload, proof, the ISV's approval, a call, rotation, expiry.
    assert "-> 303 to Salesforce's authorize endpoint (PKCE S256)" in _section(out, 8)
    assert "one-time code shown once" in _section(out, 8)
    assert not ENROLLMENT_CODE.search(out), "the enrollment code is abbreviated"
    assert '"pending_approval"' in _section(out, 9)
    assert '"active"' in _section(out, 10)
    assert "signed with 'globex_jwt': token issued" in _section(out, 11)
    rotation = _section(out, 12)
    assert '"certificate_rotated"' not in rotation  # the answer, not the audit code
    assert rotation.index("signed with 'globex_jwt_2027'") < rotation.index("signed with 'globex_jwt':")
    expiry = _section(out, 13).splitlines()
    assert sum("CN=globex_jwt" in line for line in expiry) == 2
    audit = _section(out, 14)
    assert "canvas_session_not_live" in audit
    assert "assertion_replayed" in audit
    for code in ("enrollment_started", "enrollment_proven", "enrollment_activated", "certificate_rotated"):
        assert code in audit
    assert "same fields on every path: expires_at, instance_url, issuer, org_id" in out
    assert "every step succeeded" in out
    assert not FULL_JWT.search(out), "tokens are abbreviated"
    _assert_nothing_left(outcome, temp_root)


def test_a_failed_step_is_named_and_everything_is_cleaned_up(
    forcegate: Runner, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = DemoOrg.apex_jws

    def wrong_audience(self: DemoOrg, audience: str) -> Any:
        return original(self, audience + "/elsewhere")

    monkeypatch.setattr(DemoOrg, "apex_jws", wrong_audience)
    outcome = forcegate("demo")
    assert outcome.code == 1
    assert f"forcegate demo: step 4 failed ({steps.STEP_APEX}): " in outcome.err
    assert "HTTP 400 (error=invalid_grant)" in outcome.err
    assert "(the audit log: invalid_audience: audience 'http://127.0.0.1:" in outcome.err  # the precise reason
    assert HEADINGS[4] not in outcome.out
    assert "every step succeeded" not in outcome.out
    _assert_nothing_left(outcome, temp_root)


def test_a_refused_rotation_fails_the_demo_with_its_reason(
    forcegate: Runner, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = setup_page.rotation_form

    def old_key_twice(*args: Any, **kwargs: Any) -> dict[str, str]:
        form = original(*args, **kwargs)
        return {**form, "new_key_assertion": form["assertion"]}

    monkeypatch.setattr(onboarding, "rotation_form", old_key_twice)
    outcome = forcegate("demo")
    assert outcome.code == 1
    assert f"forcegate demo: step 13 failed ({onboarding.STEP_ROTATE}): POST /enroll/rotate answered 400" in outcome.err
    assert "invalid_signature: rotation refused: the new certificate's key did not sign the request" in outcome.err
    _assert_nothing_left(outcome, temp_root)


def test_without_the_liveness_check_the_logged_out_canvas_request_fails_the_demo(
    forcegate: Runner, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "SERVICE_ENVIRONMENT", {})
    outcome = forcegate("demo")
    assert outcome.code == 1
    assert (
        f"forcegate demo: step 3 failed ({steps.STEP_CANVAS}): POST /canvas answered 303, expected 401" in outcome.err
    )
    _assert_nothing_left(outcome, temp_root)


def test_ctrl_c_stops_the_service_and_removes_the_folder(
    forcegate: Runner, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(steps, "direct_jwt", interrupted)
    outcome = forcegate("demo")
    assert outcome.code != 0
    assert "aborted" in outcome.err
    _assert_nothing_left(outcome, temp_root)


def test_sigterm_stops_the_service_and_removes_the_folder(
    forcegate: Runner, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def terminated(*args: object, **kwargs: object) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM did not interrupt the demo")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(steps, "direct_jwt", terminated)
    outcome = forcegate("demo")
    assert outcome.code == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in outcome.err
    assert signal.getsignal(signal.SIGTERM) is before
    _assert_nothing_left(outcome, temp_root)


def test_keep_port_verbose_and_the_users_settings_stay_out(
    forcegate: Runner, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The user's own settings must not point the demo at their deployment (nor break it).
    monkeypatch.setenv("FORCEGATE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/production")
    monkeypatch.setenv("FORCEGATE_CONFIG", str(temp_root / "missing.toml"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = forcegate("demo", "--keep", "--port", str(port), "--verbose")
    assert outcome.code == 0, outcome.err
    assert "admin token (shown once" in outcome.out[outcome.out.index("== 16. The service's output ==") :]
    pid, served = _service(outcome.out)
    assert served == port
    (kept,) = temp_root.iterdir()
    assert f"kept {kept}" in outcome.out
    assert (kept / "data" / "forcegate.db").is_file()  # the embedded default, not the PostgreSQL URL
    log = (kept / "serve.log").read_text().splitlines()
    admin_token = log[next(i for i, line in enumerate(log) if "admin token (shown once" in line) + 1]
    assert len(admin_token) >= 32
    assert admin_token not in outcome.out  # abbreviated, in the service's output too
    assert f"{admin_token[:16]}…" in outcome.out
    assert (kept / "demo_jwt.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_a_busy_port_fails_before_anything_starts(forcegate: Runner, temp_root: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        outcome = forcegate("demo", "--port", str(port))
    assert outcome.code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in outcome.err
    assert "forcegate serve (pid" not in outcome.out
    assert list(temp_root.iterdir()) == []


def test_a_replay_that_is_accepted_fails_the_demo(org: DemoOrg) -> None:
    identity = {
        "source": "jwt",
        "org_id": org.org_id,
        "user_id": org.user_id,
        "username": org.username,
        "parameters": org.parameters,
    }
    # A service that forgot single use: every request answers 200.
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=identity))
    lines: list[str] = []
    with (
        httpx.Client(transport=transport, base_url="http://service.test") as client,
        pytest.raises(DemoError, match=r"answered 200, expected 401") as failure,
    ):
        steps.direct_jwt(Reporter(lines.append), client, org, "http://service.test")
    assert failure.value.step == steps.STEP_DIRECT


def test_an_identity_of_another_shape_fails_the_demo() -> None:
    same = {"source": "canvas", "org_id": "00D5g000004ABCDEA4", "user_id": None}
    with pytest.raises(DemoError, match="different fields"):
        steps.same_shape(Reporter(lambda line: None), {"canvas": same, "jwt": {**same, "extra": 1}})


def test_credentials_are_abbreviated() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIwMEQifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    shown = redact({"access_token": "x" * 40, "nested": [{"signed_request": "y" * 40}], "other": jwt, "name": "Acme"})
    assert shown == {
        "access_token": "x" * 16 + "…",
        "nested": [{"signed_request": "y" * 16 + "…"}],
        "other": jwt[:16] + "…",
        "name": "Acme",
    }


@pytest.fixture(scope="module")
def org() -> DemoOrg:
    from forcegate.devtools.demo.org import new_demo_org

    return new_demo_org()


@pytest.mark.parametrize("blocked", [["uvicorn", "starlette"], ["httpx"]])
def test_without_the_server_extra_the_demo_names_it_and_exits_2(blocked: list[str]) -> None:
    result = run_forcegate("demo", blocked=blocked)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()  # one line, no traceback
    assert line.startswith("forcegate: demo needs the 'server' extra (")
    assert line.endswith("pip install 'forcegate[server]'")
    assert result.stdout == ""
