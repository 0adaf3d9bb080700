"""What survives a restart, and ``forcegate serve`` as a real process beside the registry CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.cli.main import main as forcegate_cli
from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from server.live import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    ORG_ID,
    USER_ID,
    LiveServer,
    exchange,
    make_org,
    post_token,
    start_server,
)

SERVE_TIMEOUT = 30.0


def _socket_on(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _me(server: LiveServer, token: str) -> httpx.Response:
    with server.client() as client:
        return client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})


# --- (a) restart on the same data folder -----------------------------------------------------------


def test_state_survives_a_restart(tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> None:
    data = tmp_path / "data"
    org = make_org(ORG_ID, rsa_key, clock)
    first = start_server(data, clock=clock)
    try:
        assert first.admin_token
        with first.admin() as admin:
            assert admin.post("/admin/api/v1/orgs", json={"org_id": org.org_id, "scopes": ["api"]}).status_code == 201
            cert = admin.post(
                f"/admin/api/v1/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem}
            )
            assert cert.status_code == 201
            app = admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
            assert app.status_code == 201
            assert admin.patch(f"/admin/api/v1/orgs/{org.org_id}", json={"apps": [CONSUMER_KEY]}).status_code == 200
        used = org.assertion(first.token_endpoint)
        kept = exchange(first, used).json()["access_token"]
        revoked = exchange(first, org.assertion(first.token_endpoint)).json()["access_token"]
        with first.client() as client:
            headers = {"authorization": f"Bearer {first.admin_token}"}
            assert client.post("/oauth2/revoke", data={"token": revoked}, headers=headers).status_code == 200
            canvas = client.post(
                "/canvas",
                data={
                    "signed_request": sign_envelope(build_envelope(org_id=org.org_id, user_id=USER_ID), CONSUMER_SECRET)
                },
            )
        assert canvas.status_code == 303
        session = canvas.headers["set-cookie"].split(";", 1)[0]
        direct = org.assertion(first.url)
        assert _me(first, direct).status_code == 200
        port = first.settings.port
    finally:
        first.stop()

    # Same data folder, same port (so the same public URL, issuer and audiences), a new process state.
    second = start_server(data, clock=clock, sock=_socket_on(port))
    try:
        assert second.admin_token == ""  # the second bootstrap made no new admin token
        second.admin_token = first.admin_token
        with second.admin() as admin:
            orgs = admin.get("/admin/api/v1/orgs")
            assert orgs.status_code == 200  # the admin token printed at first start still works
            assert [o["org_id"] for o in orgs.json()] == [org.org_id]
            assert [a["consumer_key"] for a in admin.get("/admin/api/v1/apps").json()] == [CONSUMER_KEY]
            introspected = admin.post("/oauth2/introspect", data={"token": kept}).json()
        assert introspected["active"] is True
        me = _me(second, kept)
        assert me.status_code == 200, me.text
        assert me.json()["org_id"] == org.org_id
        assert _me(second, revoked).status_code == 401
        # Single use outlives the process: neither the exchanged nor the directly used assertion is accepted again.
        assert exchange(second, used).json() == {"error": "invalid_grant"}
        assert _me(second, direct).status_code == 401
        with second.client() as client:
            assert client.get("/api/v1/me", headers={"cookie": session}).json()["source"] == "canvas"
        # The registry works as before: a new assertion is exchanged.
        assert exchange(second, org.assertion(second.token_endpoint)).status_code == 200
    finally:
        second.stop()


# --- (b) `forcegate serve` as a process ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _serve(data: Path, port: int, out: Path, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m forcegate.cli serve`` in its own process group, answering /healthz; always ended."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")}
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "forcegate.cli", "serve", "--port", str(port), "--data-dir", str(data)]
    with out.open("wb") as stdout, (out.with_suffix(".err")).open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--log-level", "warning", *extra],
            stdout=stdout,
            stderr=stderr,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}: {out.with_suffix('.err').read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError("serve did not answer /healthz in time")
            time.sleep(0.05)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> str:
    """The registry CLI in this process (another process, as far as the server is concerned)."""
    for name in list(os.environ):
        if name.startswith("FORCEGATE_") and not name.startswith("FORCEGATE_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FORCEGATE_DATA_DIR", str(data))
    capsys.readouterr()
    code: object = 0
    try:
        forcegate_cli(list(args))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    assert code in (0, None), captured.err
    return captured.out


def test_forcegate_serve(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    data = tmp_path / "data"
    clock = FixedClock(time.time())  # the served process runs on the wall clock
    org = make_org(ORG_ID, rsa_key, clock)
    cert = tmp_path / "org.pem"
    cert.write_text(org.certificate_pem)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with _serve(data, port, tmp_path / "first.out"):
        lines = (tmp_path / "first.out").read_text().splitlines()
        marker = next(i for i, line in enumerate(lines) if "admin token" in line)
        admin_token = lines[marker + 1].strip()
        assert len(admin_token) >= 32
        assert sum(admin_token in line for line in lines) == 1  # shown once
        assert any(url in line for line in lines)

        # Not registered yet: refused.
        assert post_token(url, org.assertion(url + "/oauth2/token")).status_code == 400
        # The registry CLI writes beside the running server, which sees it on its next request.
        assert ORG_ID in _cli(monkeypatch, capsys, data, "orgs", "add", ORG_ID, "--scope", "api")
        _cli(monkeypatch, capsys, data, "certs", "add", ORG_ID, str(cert))
        granted = post_token(url, org.assertion(url + "/oauth2/token"))
        assert granted.status_code == 200, granted.text
        token = granted.json()["access_token"]
        me = httpx.get(url + "/api/v1/me", headers={"authorization": f"Bearer {token}"})
        assert me.json()["org_id"] == ORG_ID
        events = json.loads(_cli(monkeypatch, capsys, data, "audit", "--json", "--org", ORG_ID))
        allowed = [e for e in events if e["result"] == "allowed" and e["endpoint"] == "/oauth2/token"]
        assert len(allowed) == 1
        assert allowed[0]["credential"] == "jwt-bearer"
        assert allowed[0]["subject"] == "ada@example.com"
        assert token not in json.dumps(events)
        # The CLI disables the org: the running server refuses the token it issued.
        _cli(monkeypatch, capsys, data, "orgs", "disable", ORG_ID)
        assert httpx.get(url + "/api/v1/me", headers={"authorization": f"Bearer {token}"}).status_code == 401
        _cli(monkeypatch, capsys, data, "orgs", "enable", ORG_ID)

    # A second start on the same folder, with two workers: no new admin token; the first one works.
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with _serve(data, port, tmp_path / "second.out", "--workers", "2"):
        second = (tmp_path / "second.out").read_text()
        assert "admin token" not in second
        assert admin_token not in second
        listed = httpx.get(url + "/admin/api/v1/orgs", headers={"authorization": f"Bearer {admin_token}"})
        assert listed.status_code == 200
        assert [o["org_id"] for o in listed.json()] == [ORG_ID]
        # One assertion posted at once from several threads (so to both workers): exactly one wins.
        for _ in range(3):
            assertion = org.assertion(url + "/oauth2/token")
            statuses = _race(url, assertion, threads=8)
            assert sorted(statuses) == [200] + [400] * 7, statuses


def _race(url: str, assertion: str, *, threads: int) -> list[int]:
    barrier = threading.Barrier(threads)
    statuses: list[int] = []
    lock = threading.Lock()
    clients = [httpx.Client(timeout=10) for _ in range(threads)]

    def post(client: httpx.Client) -> None:
        client.get(url + "/healthz")  # connect first, so the race is on the request alone
        barrier.wait()
        status = client.post(
            url + "/oauth2/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        ).status_code
        with lock:
            statuses.append(status)

    workers = [threading.Thread(target=post, args=(client,)) for client in clients]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        for client in clients:
            client.close()
    return statuses
