"""forcegate.integrations.django's Canvas views: a session opened in the service's registry (decision 0009),
read back by the middleware, ended by the logout — and the system checks of ``settings.FORCEGATE``."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from django_live import SALESFORCE_ORIGIN, Service
from forcegate.resource import SESSION_COOKIE, JWKSVerifier, RegistryVerifier
from server.live import CONSUMER_KEY, ORG_ID, USER_ID


def login(service: Service, client: Client, path: str = "/canvas") -> str:
    response = client.post(path, {"signed_request": service.signed_request()}, headers={"origin": SALESFORCE_ORIGIN})
    assert response.status_code == 303, response.content
    assert response["Location"] == "/app"
    cookie = response["Set-Cookie"]
    session = cookie.split(";")[0].removeprefix(f"{SESSION_COOKIE}=")
    lifetime = service.server.settings.session_lifetime
    assert cookie == (
        f"{SESSION_COOKIE}={session}; Path=/; Max-Age={lifetime}; HttpOnly; Secure; SameSite=None; Partitioned"
    )
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies  # Django's own cookies (its session, CSRF) play no part
    return session


def test_canvas_login_landing_and_logout(service: Service, registry: RegistryVerifier) -> None:
    browser = Client()
    session = login(service, browser)
    browser.cookies[SESSION_COOKIE] = session
    landing = browser.get("/app")
    assert landing.status_code == 200
    assert landing.content == f"signed in: {ORG_ID}".encode()
    identity = browser.get("/whoami").json()["identity"]
    assert (identity["source"], identity["user_id"], identity["parameters"]) == ("canvas", USER_ID, {"region": "APAC"})
    # The same session at the service itself: one registry.
    with service.server.client() as direct:
        direct.cookies.set(SESSION_COOKIE, session)
        assert direct.get("/api/v1/me").status_code == 200

    out = browser.post("/logout")
    assert out.status_code == 200
    assert b"Signed out" in out.content
    assert out["Set-Cookie"] == f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None; Partitioned"
    ended = browser.get("/app")
    assert ended.status_code == 401
    assert ended["WWW-Authenticate"] == 'Bearer realm="forcegate", error="invalid_token"'


def test_a_stale_session_cookie_does_not_stop_a_new_login(service: Service, registry: RegistryVerifier) -> None:
    browser = Client()
    browser.cookies[SESSION_COOKIE] = "ended-or-made-up"
    assert browser.get("/app").status_code == 401
    browser.cookies[SESSION_COOKIE] = login(service, browser, f"/canvas/{CONSUMER_KEY}")
    assert browser.get("/app").status_code == 200
    assert browser.post("/logout", headers={"origin": "http://testserver"}).status_code == 200


def test_the_session_ends_when_its_trust_does(service: Service, registry: RegistryVerifier) -> None:
    browser = Client()
    browser.cookies[SESSION_COOKIE] = login(service, browser)
    with service.server.admin() as admin:
        assert admin.patch(f"/admin/api/v1/orgs/{ORG_ID}", json={"apps": []}).status_code == 200
    assert browser.get("/app").status_code == 401


@pytest.mark.parametrize(
    ("form", "origin", "status", "title"),
    [
        ({"signed_request": "forged"}, SALESFORCE_ORIGIN, 401, b"Canvas request refused"),
        ({}, SALESFORCE_ORIGIN, 400, b"missing parameter &#x27;signed_request&#x27;"),
        (None, "https://evil.example.com", 403, b"Canvas request refused"),
    ],
)
def test_canvas_refusals_are_pages_with_their_status(
    service: Service, registry: RegistryVerifier, form: dict[str, str] | None, origin: str, status: int, title: bytes
) -> None:
    fields = form if form is not None else {"signed_request": service.signed_request()}
    refused = Client().post("/canvas", fields, headers={"origin": origin})
    assert refused.status_code == status
    assert title in refused.content
    assert refused["Content-Type"] == "text/html; charset=utf-8"
    assert refused["Content-Security-Policy"].startswith("default-src 'none'")
    assert not refused.has_header("Set-Cookie")
    assert not refused.has_header("WWW-Authenticate")
    assert not refused.has_header("X-Frame-Options")  # shown in Salesforce's iframe


def test_a_request_signed_with_another_secret_is_refused(service: Service, registry: RegistryVerifier) -> None:
    forged = service.signed_request(secret="not-the-consumer-secret")
    assert Client().post("/canvas", {"signed_request": forged}).status_code == 401


def test_a_get_has_nothing_to_verify(registry: RegistryVerifier) -> None:
    response = Client().get("/canvas")
    assert (response.status_code, response["Allow"]) == (405, "POST")
    webflow = Client().get("/canvas", {"_sfdc_canvas_authvalue": "x"})
    assert webflow.status_code == 400
    assert b"Signed Request (POST)" in webflow.content


def test_another_site_can_neither_log_out_nor_use_the_session(service: Service, registry: RegistryVerifier) -> None:
    browser = Client()
    browser.cookies[SESSION_COOKIE] = login(service, browser)
    refused = browser.post("/logout", headers={"origin": "https://evil.example.com"})
    assert refused.status_code == 403
    assert not refused.has_header("Set-Cookie")
    # A cross-site POST does not carry the session (as SameSite would keep the cookie back) …
    assert browser.post("/drf/orders", headers={"origin": "https://evil.example.com"}).status_code == 401
    assert browser.post("/drf/orders", headers={"sec-fetch-site": "cross-site"}).status_code == 401
    # … while reads, and the app's own page's requests, do.
    assert browser.get("/app").status_code == 200
    assert browser.post("/logout", headers={"origin": SALESFORCE_ORIGIN}).status_code == 200
    assert browser.get("/app").status_code == 401


def test_the_canvas_views_need_the_registry(jwks: JWKSVerifier) -> None:
    with pytest.raises(ImproperlyConfigured, match="needs REGISTRY"):
        Client().post("/canvas", {"signed_request": "x"})


def test_logout_can_redirect(service: Service, registry: RegistryVerifier) -> None:
    with override_settings(
        FORCEGATE={"VERIFIER": registry, "CANVAS_LANDING_URL": "/app", "LOGOUT_REDIRECT_URL": "/bye"}
    ):
        browser = Client()
        browser.cookies[SESSION_COOKIE] = login(service, browser)
        out = browser.post("/logout")
    assert (out.status_code, out["Location"]) == (303, "/bye")
    assert "Max-Age=0" in out["Set-Cookie"]


# --- the system checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "check_id", "words"),
    [
        (None, "forcegate.E001", "must be a dict"),
        ({"JWKS": {"issuer": "https://a.example.com"}, "SECRET": 1}, "forcegate.E002", "unknown key(s) SECRET"),
        ({}, "forcegate.E003", "found none"),
        ({"JWKS": {"issuer": "https://a.example.com"}, "REGISTRY": {}}, "forcegate.E003", "found JWKS, REGISTRY"),
        ({"JWKS": {"issuer": "ftp://a.example.com"}}, "forcegate.E004", "not the service's public URL"),
        ({"JWKS": {"issuer": "https://a.example.com", "audiences": []}}, "forcegate.E004", "audiences"),
        ({"JWKS": {"issuer": "http://a.example.com"}}, "forcegate.E004", "plain http"),
        ({"REGISTRY": {"data_dirs": "x"}}, "forcegate.E004", "'data_dirs' is not a forcegate setting"),
        ({"REGISTRY": {"session_lifetime": -1}}, "forcegate.E004", "session_lifetime"),
        ({"VERIFIER": 42}, "forcegate.E004", "must be a verifier"),
        ({"JWKS": {"issuer": "https://a.example.com"}, "CANVAS_LANDING_URL": 3}, "forcegate.E005", "CANVAS"),
    ],
)
def test_the_system_checks_name_what_is_wrong(value: object, check_id: str, words: str) -> None:
    with override_settings(FORCEGATE=value):
        found = checks.run_checks(tags=["forcegate"])
    assert [message.id for message in found] == [check_id]
    assert words in found[0].msg


def test_good_settings_pass_the_checks(tmp_path: object) -> None:
    for value in (
        {"JWKS": {"issuer": "https://auth.example.com", "introspection_token": "t" * 32}},
        {"REGISTRY": {"data_dir": "/srv/forcegate", "extra_audiences": ["https://app.example.com"]}},
        {"VERIFIER": "django_support.configure"},  # a dotted path to a function (it is not called here)
    ):
        with override_settings(FORCEGATE=value):
            assert checks.run_checks(tags=["forcegate"]) == [], value
    with override_settings(SESSION_COOKIE_NAME=SESSION_COOKIE):
        assert [message.id for message in checks.run_checks(tags=["forcegate"])] == ["forcegate.E006"]
