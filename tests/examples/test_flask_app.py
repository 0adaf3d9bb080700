"""The example application ``examples/flask_app.py`` against a live ``forcegate serve``.

The service is a real ``forcegate serve`` process on its own data folder, as a Flask app would meet
it. Apex's side is emulated (``forcegate.devtools``): it exchanges its JWT for an access token at the
service, and signs Canvas requests with the app's consumer secret. The example runs twice, from its
``create_app`` factory: with ``{"JWKS": {...}}`` (it knows only the service's URL) and with
``{"REGISTRY": {...}}`` on the service's data folder (it also takes Canvas, and Apex JWTs sent to it).

Why a real WSGI server (Werkzeug's ``make_server``, threaded, on a free 127.0.0.1 port) rather than
Flask's test client: what is checked is what goes over the wire — the ``Set-Cookie`` header the
extension writes by hand (``Partitioned``), ``WWW-Authenticate`` and the 303's ``Location`` as a
browser gets them — and the verifier is called as in production, from a server's worker thread that
has no event loop, with the client address the server resolved. The last test runs the example the way
its docstring says, ``flask --app examples/flask_app.py run`` with the configuration in ``FLASK_FORCEGATE``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.resource import SESSION_COOKIE
from private_servers import free_port
from server.live import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    JWT_BEARER_GRANT,
    ORG_ID,
    RECORD_ID,
    USER_ID,
    Org,
    make_org,
    register_org,
)
from server.serve_process import ServeProcess

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app.py"
SALESFORCE_PAGE = "https://example.my.salesforce.com"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("forcegate_example_flask_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Service:
    """The live ``forcegate serve``, its data folder, and the org registered there (with a Canvas app)."""

    url: str
    data_dir: Path
    admin_token: str
    org: Org

    def token(self, scope: str | None = None) -> str:
        data = {"grant_type": JWT_BEARER_GRANT, "assertion": self.org.assertion(self.url + "/oauth2/token")}
        if scope is not None:
            data["scope"] = scope
        response = httpx.post(self.url + "/oauth2/token", data=data, timeout=10)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def audit(self) -> list[dict[str, Any]]:
        headers = {"authorization": f"Bearer {self.admin_token}"}
        response = httpx.get(self.url + "/admin/api/v1/audit", params={"limit": 50}, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()
        return events


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class FlaskServer:
    """The example app under Werkzeug's threaded WSGI server, on a free 127.0.0.1 port.

    The socket is bound before the app is made, so the app's configuration can name its own URL (the
    audience Apex addresses its JWTs to).
    """

    def __init__(self) -> None:
        self.app: Flask | None = None
        self.server = make_server("127.0.0.1", 0, self._dispatch, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _dispatch(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert self.app is not None
        return self.app(environ, start_response)

    def start(self, app: Flask) -> None:
        self.app = app
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()

    def client(self, token: str | None = None, *, session: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if session is not None:
            # By hand: the cookie is Secure, which an http client keeps from a plain-http URL.
            headers["cookie"] = f"{SESSION_COOKIE}={session}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, follow_redirects=False)


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return _load_example()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> Iterator[Service]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("flask-example") / "data"
    serve = ServeProcess(None, data_dir, port=port, public_url=f"http://127.0.0.1:{port}")
    try:
        admin_token = serve.admin_token()
        org = make_org(ORG_ID, rsa_key, FixedClock(time.time()))
        register_org(serve.url, admin_token, org, scopes=("api", "orders:read"))
        with httpx.Client(base_url=serve.url, headers={"authorization": f"Bearer {admin_token}"}, timeout=10) as admin:
            added = admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
            assert added.status_code == 201, added.text
            bound = admin.patch(f"/admin/api/v1/orgs/{ORG_ID}", json={"apps": [CONSUMER_KEY]})
            assert bound.status_code == 200, bound.text
        yield Service(serve.url, data_dir, admin_token, org)
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def clean_environment() -> Iterator[None]:
    """No FORCEGATE_* setting of the machine's under the REGISTRY settings (the tests' own variables stay)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("FORCEGATE_") and not name.startswith("FORCEGATE_TEST_"):
                patch.delenv(name)
        yield


def _serve(example: ModuleType, config: dict[str, Any]) -> Iterator[FlaskServer]:
    server = FlaskServer()
    app = example.create_app({"FORCEGATE": config})
    server.start(app)
    try:
        yield server
    finally:
        server.stop()
        example.forcegate.close(app)  # writes the verifier's queued audit rows


@pytest.fixture(scope="module")
def jwks_app(example: ModuleType, service: Service) -> Iterator[FlaskServer]:
    yield from _serve(example, {"JWKS": {"issuer": service.url}})


@pytest.fixture(scope="module")
def registry_app(example: ModuleType, service: Service, clean_environment: None) -> Iterator[FlaskServer]:
    server = FlaskServer()
    settings = {"data_dir": str(service.data_dir), "public_url": service.url, "extra_audiences": [server.url]}
    app = example.create_app({"FORCEGATE": {"REGISTRY": settings}})
    server.start(app)
    try:
        yield server
    finally:
        server.stop()
        example.forcegate.close(app)


def signed_request(secret: str = CONSUMER_SECRET) -> str:
    envelope = build_envelope(
        org_id=ORG_ID,
        user_id=USER_ID,
        user_name="grace@example.com",
        parameters={"region": "APAC"},
        record={"attributes": {"type": "Account", "url": "/x"}, "Id": RECORD_ID[:15]},
        oauth_token="00Dxx!session-token",
    )
    return sign_envelope(envelope, secret)


def canvas_login(app: FlaskServer, secret: str = CONSUMER_SECRET, **headers: str) -> httpx.Response:
    with app.client() as client:
        return client.post("/canvas", data={"signed_request": signed_request(secret)}, headers=headers)


def session_of(response: httpx.Response) -> str:
    cookie = response.headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    assert name == SESSION_COOKIE
    return rest.partition(";")[0]


# --- JWKS: the service's access tokens -----------------------------------------------------------------


def test_an_access_token_opens_the_api(jwks_app: FlaskServer, service: Service) -> None:
    token = service.token()
    with jwks_app.client(token) as client:
        orders = client.get("/orders")
        whoami = client.get("/whoami")
    assert orders.status_code == 200, orders.text
    assert orders.json() == {"org_id": ORG_ID, "user_id": USER_ID, "region": "EMEA", "via": "jwt-bearer", "orders": []}
    # The identity is the one the service's own API gives for the same token.
    me = httpx.get(service.url + "/api/v1/me", headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert whoami.json() == me.json()
    assert whoami.json()["scopes"] == ["api", "orders:read"]


def test_a_token_without_the_scope_is_403_with_the_challenge(jwks_app: FlaskServer, service: Service) -> None:
    with jwks_app.client(service.token(scope="api")) as client:
        refused = client.get("/orders")
        allowed = client.get("/whoami")  # no scope required there
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {"error": "insufficient_scope"}  # the shape of forcegate's own API
    assert refused.headers["www-authenticate"] == 'Bearer realm="forcegate", error="insufficient_scope"'
    assert refused.headers["cache-control"] == "no-store"
    assert allowed.status_code == 200


def test_without_a_token_401_with_the_challenge(jwks_app: FlaskServer) -> None:
    with jwks_app.client() as client:
        for path in ("/orders", "/whoami"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == 'Bearer realm="forcegate"'
            assert response.json() == {"error": "invalid_token"}
        garbage = client.get("/orders", headers={"authorization": "Bearer garbage"})
        basic = client.get("/orders", headers={"authorization": "Basic eDp5"})
        malformed = client.get("/orders", headers={"authorization": "Bearer a b"})
    assert garbage.status_code == 401
    assert garbage.headers["www-authenticate"] == 'Bearer realm="forcegate", error="invalid_token"'
    assert basic.status_code == 401
    assert malformed.status_code == 400
    assert malformed.json() == {
        "error": "invalid_request",
        "error_description": "the bearer token has characters RFC 6750 §2.1 does not allow",
        "code": "malformed_credentials",
    }


def test_a_jwks_app_takes_no_canvas_session(jwks_app: FlaskServer, registry_app: FlaskServer) -> None:
    """Canvas sessions live in the registry: the JWKS app has no Canvas views, and a session cookie is
    not a credential there."""
    session = session_of(canvas_login(registry_app))
    with jwks_app.client(session=session) as client:
        assert client.post("/canvas", data={"signed_request": signed_request()}).status_code == 404
        refused = client.get("/whoami")
    assert refused.status_code == 401


# --- REGISTRY: Canvas, and Apex JWTs sent to the app -----------------------------------------------------


def test_canvas_opens_a_session_the_landing_page_shows_and_logout_ends(
    registry_app: FlaskServer, service: Service
) -> None:
    login = canvas_login(registry_app, origin=SALESFORCE_PAGE)
    assert login.status_code == 303, login.text
    assert login.headers["location"] == "/app"
    assert login.headers["cache-control"] == "no-store"
    [cookie] = login.headers.get_list("set-cookie")
    # Decision 0009's cookie, written by forcegate (Partitioned included), not Flask's session cookie.
    assert cookie.endswith("; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=None; Partitioned")
    session = session_of(login)

    with registry_app.client(session=session) as client:
        page = client.get("/app")
        whoami = client.get("/whoami")
    assert page.status_code == 200, page.text
    assert f'<b id="org">{ORG_ID}</b>' in page.text
    assert '<b id="user">grace@example.com</b>' in page.text
    assert '<span id="region">APAC</span>' in page.text
    assert 'action="/canvas/logout"' in page.text
    assert (whoami.json()["source"], whoami.json()["org_id"], whoami.json()["user_id"]) == ("canvas", ORG_ID, USER_ID)

    own_origin = registry_app.url
    with registry_app.client(session=session) as client:
        logout = client.post("/canvas/logout", headers={"origin": own_origin})
        after = client.get("/app")
        api_after = client.get("/whoami")
    assert logout.status_code == 200
    assert "Signed out" in logout.text
    assert logout.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=; Path=/; Max-Age=0;")
    assert after.status_code == 401  # the session is over in the store, not just in the browser
    assert after.headers["content-type"] == "text/html; charset=utf-8"
    assert "Not signed in" in after.text
    assert api_after.status_code == 401
    assert api_after.json() == {"error": "invalid_token"}
    codes = [(event["endpoint"], event["code"]) for event in service.audit()]
    assert ("/canvas", "ok") in codes  # audited by the service's own logic, under the app's path


@pytest.mark.parametrize(
    ("form", "headers", "status", "title"),
    [
        ({"signed_request": signed_request("not-the-consumer-secret")}, {}, 401, "Canvas request refused"),
        ({"signed_request": signed_request()}, {"origin": "https://evil.example.com"}, 403, "Canvas request refused"),
        ({}, {}, 400, "missing parameter &#x27;signed_request&#x27;"),  # the request's own shape: told
    ],
    ids=["forged", "another-site", "no-signed-request"],
)
def test_a_refused_canvas_request_is_a_page_with_its_status(
    registry_app: FlaskServer, form: dict[str, str], headers: dict[str, str], status: int, title: str
) -> None:
    with registry_app.client() as client:
        refused = client.post("/canvas", data=form, headers=headers)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "text/html; charset=utf-8"
    assert title in refused.text
    assert "set-cookie" not in refused.headers
    assert refused.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in refused.headers["content-security-policy"]


def test_logout_from_another_site_is_refused(registry_app: FlaskServer) -> None:
    session = session_of(canvas_login(registry_app))
    with registry_app.client(session=session) as client:
        refused = client.post("/canvas/logout", headers={"origin": "https://evil.example.com"})
        still = client.get("/whoami")
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers
    assert still.status_code == 200  # the session lives on


def test_an_apex_jwt_addressed_to_the_app_is_single_use(registry_app: FlaskServer, service: Service) -> None:
    """FORCEGATE_EXTRA_AUDIENCES (here the REGISTRY setting extra_audiences) holds the app's URL."""
    jwt = service.org.assertion(registry_app.url)
    with registry_app.client(jwt) as client:
        first = client.get("/orders")
        second = client.get("/orders")
    assert first.status_code == 200, first.text
    assert first.json()["via"] == "jwt"
    assert second.status_code == 401
    assert second.headers["www-authenticate"] == 'Bearer realm="forcegate", error="invalid_token"'
    events = [(e["endpoint"], e["credential"], e["code"], e["client"]) for e in service.audit()]
    assert ("/orders", "jwt", "ok", "127.0.0.1") in events  # the path and client address Flask resolved


def test_an_access_token_in_registry_mode(registry_app: FlaskServer, service: Service) -> None:
    with registry_app.client(service.token()) as client:
        response = client.get("/orders")
    assert response.status_code == 200, response.text
    assert response.json()["via"] == "jwt-bearer"


# --- as its docstring says ---------------------------------------------------------------------------------


def test_run_with_flask_run_and_the_config_in_the_environment(service: Service) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORCEGATE_", "FLASK_"))}
    env["FLASK_FORCEGATE"] = json.dumps({"JWKS": {"issuer": service.url}})
    command = [sys.executable, "-m", "flask", "--app", str(EXAMPLE), "run", "--port", str(port)]
    headers = {"authorization": f"Bearer {service.token()}"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else "flask run exited"
            assert time.monotonic() < deadline, "flask run did not start in time"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/orders", headers=headers, timeout=10)
                break
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
    assert response.status_code == 200, response.text
    assert response.json()["org_id"] == ORG_ID
