"""The example Django project ``examples/django_app``, run as its README says, against a live ``forcegate serve``.

Why a real server in its own process (``python manage.py runserver --noreload``, Django's threaded
WSGI server, on a free 127.0.0.1 port) rather than Django's test client in this process: it is what a
user runs, and it starts the way a user's project starts — the settings module from
``DJANGO_SETTINGS_MODULE``, ``manage.py``'s ``sys.path``, the system checks (``FORCEGATE`` included),
middleware loaded by the WSGI handler, answers over HTTP (raw ``Set-Cookie`` with ``Partitioned``
included). Django's settings are also global to a process: the in-process tests
(tests/django_integration) configure another project, and the example is run twice here, once per
verifier. The forcegate service is ``forcegate serve`` too (tests/server/serve_process.py).

* the example with ``ACME_FORCEGATE_ISSUER`` set verifies with the service's JWKS (``FORCEGATE["JWKS"]``):
  Apex's exchange at the service, then the Django view and the DRF view with the access token;
* the example without it shares the service's data folder (``FORCEGATE["REGISTRY"]``): Canvas logins
  open sessions there, the landing page shows the identity, the logout ends the session; Apex JWTs
  addressed to the app (``FORCEGATE_EXTRA_AUDIENCES``) are single-use.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.settings import ENV_PREFIX
from server.live import CONSUMER_KEY, CONSUMER_SECRET, ORG_ID, USER_ID, Org, make_org, post_token, register_org
from server.serve_process import ServeProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_app"
SALESFORCE_ORIGIN = "https://example.my.salesforce.com"
CHALLENGE = 'Bearer realm="forcegate"'
SESSION_COOKIE = "forcegate_session"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class DjangoApp:
    """``python manage.py runserver --noreload 127.0.0.1:<free port>`` in the example's folder."""

    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=EXAMPLE,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the example did not start:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)

    def client(self, authorization: str | None = None, session: str | None = None) -> httpx.Client:
        headers = {} if authorization is None else {"authorization": authorization}
        if session is not None:
            # The cookie is Secure: httpx would keep it from this plain-http loopback server, as a browser
            # would not (a loopback origin is a secure context); so it is sent by hand.
            headers["cookie"] = f"{SESSION_COOKIE}={session}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@dataclass
class Deployment:
    service: ServeProcess
    org: Org
    jwks_app: DjangoApp
    registry_app: DjangoApp

    def token(self, scope: str | None = None) -> str:
        extra = {} if scope is None else {"scope": scope}
        response = post_token(self.service.url, self.org.assertion(self.service.url + "/oauth2/token"), **extra)
        assert response.status_code == 200, response.text
        return f"Bearer {response.json()['access_token']}"

    def signed_request(self, secret: str = CONSUMER_SECRET) -> str:
        envelope = build_envelope(org_id=ORG_ID, user_id=USER_ID, parameters={"region": "APAC"})
        return sign_envelope(envelope, secret)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("django-example")
    data = folder / "data"
    port = _free_port()
    service = ServeProcess(None, data, port=port, public_url=f"http://127.0.0.1:{port}")
    apps: list[DjangoApp] = []
    try:
        org = make_org(ORG_ID, rsa_key, FixedClock(time.time()))
        admin_token = service.admin_token()
        register_org(service.url, admin_token, org, scopes=("api", "orders:read"))
        with httpx.Client(base_url=service.url, headers={"authorization": f"Bearer {admin_token}"}) as admin:
            app = {"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET}
            assert admin.post("/admin/api/v1/apps", json=app).status_code == 201
            assert admin.patch(f"/admin/api/v1/orgs/{ORG_ID}", json={"apps": [CONSUMER_KEY]}).status_code == 200

        base = {k: v for k, v in os.environ.items() if not k.startswith((ENV_PREFIX, "ACME_", "DJANGO_"))}
        jwks_env = {**base, "ACME_FORCEGATE_ISSUER": service.url}
        apps.append(DjangoApp(_free_port(), jwks_env, folder / "jwks-app.log"))
        registry_port = _free_port()
        registry_env = {
            **base,
            # The service's settings (the same data folder, encryption key file and public URL) …
            ENV_PREFIX + "DATA_DIR": str(data),
            ENV_PREFIX + "PUBLIC_URL": service.url,
            # … and the app's own URL, for Apex to address JWTs to the app.
            ENV_PREFIX + "EXTRA_AUDIENCES": f"http://127.0.0.1:{registry_port}",
        }
        apps.append(DjangoApp(registry_port, registry_env, folder / "registry-app.log"))
        yield Deployment(service, org, apps[0], apps[1])
    finally:
        for started in apps:
            started.stop()
        service.stop()


# --- the JWKS verifier: access tokens from Apex's exchange --------------------------------------------


@pytest.mark.parametrize("path", ["/api/orders/", "/api/drf/orders/"])
def test_an_access_token_from_the_exchange_opens_the_django_and_drf_views(deployment: Deployment, path: str) -> None:
    with deployment.jwks_app.client(deployment.token()) as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "org_id": ORG_ID,
        "user_id": USER_ID,
        "region": "EMEA",  # the assertion's params claim
        "via": "jwt-bearer",
        "orders": [],
    }


def test_drf_puts_a_forcegate_user_on_the_request(deployment: Deployment) -> None:
    with deployment.jwks_app.client(deployment.token()) as client:
        response = client.get("/api/drf/whoami/")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["user"], body["source"], body["scopes"]) == ("ada@example.com", "jwt-bearer", ["api", "orders:read"])


def test_a_token_without_the_scope_is_403_with_the_challenge(deployment: Deployment) -> None:
    with deployment.jwks_app.client(deployment.token(scope="api")) as client:
        django_view = client.get("/api/orders/")
        drf_view = client.get("/api/drf/orders/")
    for refused in (django_view, drf_view):
        assert refused.status_code == 403
        assert refused.headers["www-authenticate"] == f'{CHALLENGE}, error="insufficient_scope"'
        assert refused.headers["cache-control"] == "no-store"
    assert django_view.json() == {"error": "insufficient_scope"}  # forcegate's own shape
    assert drf_view.json() == {  # DRF's, with forcegate's error beside it
        "detail": "The credential does not grant the scope this endpoint needs.",
        "error": "insufficient_scope",
    }


def test_no_token_is_401_with_the_bearer_challenge(deployment: Deployment) -> None:
    with deployment.jwks_app.client() as client:
        django_view = client.get("/api/orders/")
        drf_view = client.get("/api/drf/orders/")
        forged = client.get("/api/orders/", headers={"authorization": "Bearer not.a.token"})
    for refused in (django_view, drf_view):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == CHALLENGE
    assert drf_view.json()["detail"] == "Authentication credentials were not provided."
    assert forged.status_code == 401
    assert forged.headers["www-authenticate"] == f'{CHALLENGE}, error="invalid_token"'


def test_the_jwks_app_has_no_canvas(deployment: Deployment) -> None:
    with deployment.jwks_app.client() as client:
        response = client.post("/canvas/", data={"signed_request": deployment.signed_request()})
    assert response.status_code == 500  # ImproperlyConfigured: the Canvas views need FORCEGATE["REGISTRY"]


# --- the registry verifier: Canvas sessions, direct Apex JWTs --------------------------------------------


def _canvas_login(deployment: Deployment) -> str:
    with deployment.registry_app.client() as browser:
        opened = browser.post(
            "/canvas/", data={"signed_request": deployment.signed_request()}, headers={"origin": SALESFORCE_ORIGIN}
        )
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == "/app/"
    [cookie] = opened.headers.get_list("set-cookie")  # forcegate's, and no cookie of Django's
    session = cookie.split(";")[0].removeprefix(f"{SESSION_COOKIE}=")
    assert cookie == f"{SESSION_COOKIE}={session}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=None; Partitioned"
    return session


def test_canvas_session_landing_page_and_logout(deployment: Deployment) -> None:
    session = _canvas_login(deployment)
    app = deployment.registry_app
    with app.client(session=session) as browser:
        landing = browser.get("/app/")
        api = browser.get("/api/drf/whoami/")
        # The logout button's POST comes from the app's own page.
        out = browser.post("/logout/", headers={"origin": app.url})
        after = browser.get("/app/")
    assert landing.status_code == 200, landing.text
    assert f"<td id='org_id'>{ORG_ID}</td>" in landing.text
    assert "<td id='region'>APAC</td>" in landing.text
    assert "x-frame-options" not in landing.headers  # shown in Salesforce's iframe
    assert (api.status_code, api.json()["source"]) == (200, "canvas")
    assert out.status_code == 200
    assert "Signed out" in out.text
    assert out.headers["set-cookie"] == (
        f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None; Partitioned"
    )
    assert after.status_code == 401
    assert after.headers["www-authenticate"] == f'{CHALLENGE}, error="invalid_token"'


@pytest.mark.parametrize(
    ("secret", "origin", "status"),
    [("not-the-consumer-secret", SALESFORCE_ORIGIN, 401), (CONSUMER_SECRET, "https://evil.example.com", 403)],
)
def test_a_refused_canvas_request_is_a_page_with_its_status(
    deployment: Deployment, secret: str, origin: str, status: int
) -> None:
    with deployment.registry_app.client() as browser:
        refused = browser.post(
            "/canvas/", data={"signed_request": deployment.signed_request(secret)}, headers={"origin": origin}
        )
    assert refused.status_code == status
    assert refused.headers["content-type"] == "text/html; charset=utf-8"
    assert "set-cookie" not in refused.headers


def test_direct_apex_jwts_to_the_app_and_access_tokens(deployment: Deployment) -> None:
    app = deployment.registry_app
    direct = f"Bearer {deployment.org.assertion(app.url)}"  # addressed to the app: FORCEGATE_EXTRA_AUDIENCES
    with app.client(direct) as client:
        first = client.get("/api/orders/")
        again = client.get("/api/orders/")
    assert first.status_code == 200, first.text
    assert first.json()["via"] == "jwt"
    assert again.status_code == 401  # single use
    with app.client(deployment.token()) as client:
        assert client.get("/api/drf/orders/").status_code == 200
