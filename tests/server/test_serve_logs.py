"""What a real ``forcegate serve`` writes on standard error while it serves: every decision, with its
request id, as JSON lines or (development mode) readable lines — and never a credential.

Every credential kind goes through the service, accepted and refused: an Apex assertion at the token
endpoint, the access token it bought, an assertion sent directly, the admin token (right and wrong),
a Canvas signed request (its consumer secret, the user's Salesforce session in it) and the session
cookie it opened. None of them, nor any of their segments, may appear in the log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from forcegate.devtools import build_envelope, sign_envelope
from server.live import CONSUMER_KEY, CONSUMER_SECRET, USER_ID, Org, get_me, post_token, register_org

START_TIMEOUT = 30.0
OAUTH_TOKEN = "00D5g000004ABCD!AQ4AQLogsMustNeverShowThisSalesforceSession"
WRONG_ADMIN_TOKEN = "wrong-admin-token-that-must-not-be-logged"


@dataclass
class Served:
    url: str
    admin_token: str
    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def stop(self) -> tuple[str, str]:
        """SIGTERM (the audit queue is flushed and logged on the way out); both outputs."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        return self.out.read_text(), self.err.read_text()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(tmp_path: Path, environ: dict[str, str]) -> Served:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")}
    env.update(environ, FORCEGATE_DATA_DIR=str(tmp_path / "data"), FORCEGATE_TOKEN_RATE_LIMIT="0")
    argv = [sys.executable, "-m", "forcegate.cli", "serve", "--port", str(port), "--access-log"]
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    served = Served(f"http://127.0.0.1:{port}", "", process, out, err)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(served.url + "/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            served.stop()
            raise AssertionError(f"forcegate serve did not become ready:\n{err.read_text()}")
        time.sleep(0.1)
    lines = out.read_text().splitlines()
    served.admin_token = lines[lines.index(next(x for x in lines if "admin token (shown once" in x)) + 1]
    return served


@pytest.fixture(params=["json", "text-development"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(tmp_path: Path, mode: str) -> Iterator[Served]:
    environ = {"FORCEGATE_LOG_FORMAT": "json"} if mode == "json" else {"FORCEGATE_DEVELOPMENT": "1"}
    served = _serve(tmp_path, environ)
    try:
        yield served
    finally:
        served.stop()


def _segments(token: str) -> list[str]:
    """A compact JWS/JWT, or a Canvas signed request (signature.payload), and its non-trivial parts."""
    return [token, *(part for part in token.replace(".", " ").split() if len(part) > 20)]


def test_every_decision_is_logged_and_no_credential_is(served: Served, org: Org, mode: str) -> None:
    register_org(served.url, served.admin_token, org)
    admin = {"authorization": f"Bearer {served.admin_token}"}
    app = {"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET, "any_org": True}
    assert httpx.post(served.url + "/admin/api/v1/apps", json=app, headers=admin).status_code == 201
    audience = served.url + "/oauth2/token"
    credentials: list[str] = [served.admin_token, WRONG_ADMIN_TOKEN, CONSUMER_SECRET, OAUTH_TOKEN]

    assertion = org.assertion(audience)
    granted = post_token(served.url, assertion)
    assert granted.status_code == 200, granted.text
    access_token = granted.json()["access_token"]
    wrong_audience = org.assertion("https://elsewhere.example/oauth2/token")
    assert post_token(served.url, wrong_audience).status_code == 400
    traced = httpx.get(
        served.url + "/api/v1/me", headers={"authorization": f"Bearer {access_token}", "x-request-id": "trace-me-1"}
    )
    assert traced.status_code == 200
    assert traced.headers["x-request-id"] == "trace-me-1"
    assert get_me(served.url, access_token[:-4] + "AAAA").status_code == 401
    direct = org.assertion(served.url)
    assert get_me(served.url, direct).status_code == 200
    introspected = httpx.post(served.url + "/oauth2/introspect", data={"token": access_token}, headers=admin)
    assert introspected.json()["active"] is True
    wrong_admin = httpx.get(served.url + "/admin/api/v1/orgs", headers={"authorization": f"Bearer {WRONG_ADMIN_TOKEN}"})
    assert wrong_admin.status_code == 401
    envelope = build_envelope(org_id=org.org_id, user_id=USER_ID, oauth_token=OAUTH_TOKEN)
    signed = sign_envelope(envelope, CONSUMER_SECRET)
    opened = httpx.post(served.url + "/canvas", data={"signed_request": signed})
    assert opened.status_code == 303, opened.text
    session = opened.headers["set-cookie"].split(";", 1)[0].partition("=")[2]
    assert httpx.get(served.url + "/api/v1/me", headers={"cookie": f"forcegate_session={session}"}).status_code == 200
    forged = sign_envelope(envelope, "another-consumer-secret-entirely")
    assert httpx.post(served.url + "/canvas", data={"signed_request": forged}).status_code == 401
    for token in (assertion, access_token, wrong_audience, direct, signed, forged):
        credentials += _segments(token)
    credentials.append(session)

    _, log = served.stop()
    leaked = [secret for secret in credentials if secret in log]
    assert not leaked, f"credentials in the log: {leaked}"
    if mode == "json":
        entries = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
        assert all({"time", "level", "logger"} <= entry.keys() for entry in entries)
        decisions = [e for e in entries if e.get("event") == "decision"]
        outcomes = [(e["endpoint"], e["credential"], e["result"], e["code"]) for e in decisions]
        assert outcomes == [
            ("/oauth2/token", "jwt-bearer", "allowed", "ok"),
            ("/oauth2/token", "jwt-bearer", "denied", "invalid_audience"),
            ("/api/v1/me", "access-token", "allowed", "ok"),
            ("/api/v1/me", "bearer", "denied", "invalid_access_token"),
            ("/api/v1/me", "jwt", "allowed", "ok"),
            ("/admin/api/v1/orgs", "admin", "denied", "authentication_required"),
            ("/canvas", "canvas", "allowed", "ok"),
            ("/api/v1/me", "session", "allowed", "ok"),
            ("/canvas", "canvas", "denied", "canvas_signature_invalid"),
        ]
        assert all(e["request_id"] and e["org"] in (org.org_id, None) for e in decisions)
        [me] = [e for e in decisions if e["request_id"] == "trace-me-1"]
        assert (me["org"], me["result"], me["user"]) == (org.org_id, "allowed", USER_ID)
        assert decisions[1]["reason"]  # the reason of a refusal, which the caller was not told
        accessed = [e for e in entries if e.get("event") == "access"]
        assert {e["request_id"] for e in accessed} >= {e["request_id"] for e in decisions}
    else:
        lines = log.splitlines()
        assert "INFO:     Application startup complete." in lines
        denied = [line for line in lines if line.startswith("INFO:     denied /oauth2/token")]
        assert len(denied) == 1
        assert f"org={org.org_id} code=invalid_audience: " in denied[0]
        assert any("allowed /api/v1/me" in line and "request trace-me-1)" in line for line in lines)
