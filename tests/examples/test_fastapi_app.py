"""The example application ``examples/fastapi_app.py``, served by uvicorn, over real HTTP.

The module builds ``Forcegate(load_settings())`` from the environment when it is imported, so the
environment is set (and the data folder bootstrapped) first, and the module is loaded from its file
afterwards. Both ways of running it are on a port other than the default 8000 (issue 16: the example
accepted only the audience of port 8000): the port is given once, in ``FORCEGATE_PORT``, never the
public URL, so the audience has to follow from the example's own settings.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.service.bootstrap import bootstrap
from forcegate.settings import ENV_PREFIX, load_settings
from server.live import ORG_ID, USER_ID, Org, make_org

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Example:
    url: str
    org: Org
    module: ModuleType

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def token(self, scope: str | None = None) -> str:
        data = {"grant_type": GRANT, "assertion": self.org.assertion(self.url + "/oauth2/token")}
        if scope is not None:
            data["scope"] = scope
        with self.client() as client:
            response = client.post("/oauth2/token", data=data)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    assert port != 8000
    return port


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("forcegate_example_fastapi_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rsa_key: rsa.RSAPrivateKey) -> Iterator[Example]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv(ENV_PREFIX + "DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(ENV_PREFIX + "PORT", str(port))  # the port only: the audience must follow from it
    admin_token = asyncio.run(bootstrap(load_settings())).admin_token
    module = _load_example()  # after the environment: it builds Forcegate() at import
    assert module.settings.public_url == url

    server = uvicorn.Server(uvicorn.Config(module.app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the example did not start"
        assert time.monotonic() < deadline, "the example did not start in time"
        time.sleep(0.01)
    try:
        org = make_org(ORG_ID, rsa_key, FixedClock(time.time()))
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {admin_token}"}, timeout=10) as admin:
            added = admin.post("/admin/api/v1/orgs", json={"org_id": ORG_ID, "scopes": ["api", "orders:read"]})
            assert added.status_code == 201, added.text
            cert = admin.post(f"/admin/api/v1/orgs/{ORG_ID}/certificates", json={"certificate": org.certificate_pem})
            assert cert.status_code == 201, cert.text
        yield Example(url, org, module)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_orders_needs_the_orders_read_scope(example: Example) -> None:
    with example.client(example.token(scope="api")) as client:
        refused = client.get("/orders")
    assert refused.status_code == 403
    assert refused.json() == {"error": "insufficient_scope"}  # the shape of forcegate's own API
    assert refused.headers["www-authenticate"] == 'Bearer realm="forcegate", error="insufficient_scope"'
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]

    with example.client(example.token()) as client:
        orders = client.get("/orders")
    assert orders.status_code == 200, orders.text
    assert orders.json() == {
        "org_id": ORG_ID,
        "user_id": USER_ID,
        "region": "EMEA",  # from the assertion's params claim
        "via": "jwt-bearer",
        "orders": [],
    }


def test_whoami_with_a_token_from_the_mounted_endpoint(example: Example) -> None:
    token = example.token()
    with example.client(token) as client:
        response = client.get("/whoami")
    assert response.status_code == 200, response.text
    identity = response.json()
    assert (identity["source"], identity["org_id"], identity["user_id"]) == ("jwt-bearer", ORG_ID, USER_ID)
    assert identity["scopes"] == ["api", "orders:read"]
    # The mounted service's own API gives the same identity.
    with example.client(token) as client:
        assert client.get("/api/v1/me").json() == identity


def test_direct_apex_jwt_is_single_use_on_the_app_routes(example: Example) -> None:
    jwt = example.org.assertion(example.url)
    with example.client(jwt) as client:
        first = client.get("/whoami")
        second = client.get("/whoami")
    assert first.status_code == 200, first.text
    assert first.json()["source"] == "jwt"
    assert second.status_code == 401
    assert 'error="invalid_token"' in second.headers["www-authenticate"]


def test_without_credentials(example: Example) -> None:
    with example.client() as client:
        for path in ("/whoami", "/orders"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == 'Bearer realm="forcegate"'
        garbage = client.get("/whoami", headers={"authorization": "Bearer garbage"})
        basic = client.get("/whoami", headers={"authorization": "Basic eDp5"})
        malformed = client.get("/whoami", headers={"authorization": "Bearer a b"})
    assert garbage.status_code == 401
    assert basic.status_code == 401
    assert malformed.status_code == 400
    assert malformed.json() == {
        "error": "invalid_request",
        "error_description": "the bearer token has characters RFC 6750 §2.1 does not allow",
        "code": "malformed_credentials",
    }


def test_run_as_a_script_on_another_port(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    """What its docstring says to run: `forcegate init`, register, `python examples/fastapi_app.py`
    with FORCEGATE_PORT; a token for that port's audience is accepted."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env |= {ENV_PREFIX + "DATA_DIR": str(tmp_path / "data"), ENV_PREFIX + "PORT": str(port)}
    org = make_org(ORG_ID, rsa_key, FixedClock(time.time()))
    (tmp_path / "org.crt").write_text(org.certificate_pem)

    def forcegate(*args: str) -> None:
        command = [sys.executable, "-m", "forcegate.cli", *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr

    forcegate("init")
    forcegate("orgs", "add", ORG_ID, "--scope", "api", "--scope", "orders:read")
    forcegate("certs", "add", ORG_ID, str(tmp_path / "org.crt"))
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLE)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else "the example exited"
            assert time.monotonic() < deadline, "the example did not start in time"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        data = {"grant_type": GRANT, "assertion": org.assertion(url + "/oauth2/token")}
        with httpx.Client(base_url=url, timeout=10) as client:
            token = client.post("/oauth2/token", data=data)
            assert token.status_code == 200, token.text
            headers = {"authorization": f"Bearer {token.json()['access_token']}"}
            orders = client.get("/orders", headers=headers)
            # The audience of the default port is not this service's.
            default = {"grant_type": GRANT, "assertion": org.assertion("http://127.0.0.1:8000/oauth2/token")}
            refused = client.post("/oauth2/token", data=default)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()
    assert orders.status_code == 200, orders.text
    assert orders.json()["org_id"] == ORG_ID
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
