"""Enrollment by Salesforce sign-in, end to end over real HTTP: the service, the Salesforce emulator
(authorize, token with PKCE, identity URL, the permission query) and the org's proof of possession.

The browser is played by hand (cookies read from ``Set-Cookie`` and sent back explicitly), so what is
tested is the headers the service really sends.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.clock import FixedClock
from forcegate.devtools import SalesforceEmulator, running_emulator
from server.live import ORG_ID, OTHER_ORG_ID, LiveServer, Org, exchange, make_org, register_org, start_server

CLIENT_ID = "3MVG9_enrollment_app"
CLIENT_SECRET = "enrollment-client-secret-0123456789"
ADMIN = "admin@acme.example"
PLAIN = "user@acme.example"
OTHER_ADMIN = "admin@other.example"


@dataclass
class World:
    server: LiveServer
    emulator: SalesforceEmulator
    login: str
    org: Org
    other: Org
    tmp: Path
    cookies: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def world(tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> Iterator[World]:
    emulator = SalesforceEmulator(clock)
    emulator.add_user(ORG_ID, "0055g00000AbCdEAAV", ADMIN, permissions=("CustomizeApplication",))
    emulator.add_user(ORG_ID, "0055g00000XyZwE", PLAIN)
    emulator.add_user(OTHER_ORG_ID, "0055g00000OtHeR", OTHER_ADMIN, permissions=("ModifyAllData",))
    with running_emulator(emulator) as login:
        server = start_server(
            tmp_path / "data",
            clock=clock,
            enrollment_client_id=CLIENT_ID,
            enrollment_client_secret=CLIENT_SECRET,
            enrollment_login_hosts=(login,),
            enrollment_policy="auto",
        )
        emulator.web.add_web_app(CLIENT_ID, CLIENT_SECRET, server.url + "/enroll/callback")
        try:
            other = make_org(OTHER_ORG_ID, rsa.generate_private_key(65537, 2048), clock, cn="other")
            yield World(server, emulator, login, make_org(ORG_ID, rsa_key, clock), other, tmp_path)
        finally:
            server.stop()


class Browser:
    """One browser: its cookie jar is what the service set, sent back where the path matches."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.cookies: dict[str, str] = {}

    def _headers(self) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _remember(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            assert "HttpOnly" in header
            assert "SameSite=Lax" in header
            assert "Path=/enroll" in header
            if "Max-Age=0" in header:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def get(self, url: str) -> httpx.Response:
        response = httpx.get(url, headers=self._headers(), timeout=30, follow_redirects=False)
        if url.startswith(self.world.server.url):
            self._remember(response)
        return response

    def post(self, url: str, form: dict[str, str]) -> httpx.Response:
        response = httpx.post(url, data=form, headers=self._headers(), timeout=30, follow_redirects=False)
        self._remember(response)
        return response

    def start(self) -> str:
        """GET /enroll?login=…: the authorize URL the service sends the browser to."""
        response = self.get(f"{self.world.server.url}/enroll?{urlencode({'login': self.world.login})}")
        assert response.status_code == 303, response.text
        assert "forcegate_enroll" in self.cookies
        return response.headers["location"]

    def authorize(self, url: str, username: str) -> str:
        """The user signs in at Salesforce: the callback URL Salesforce sends the browser back to."""
        self.world.emulator.web.sign_in_as(username)
        response = self.get(url)
        assert response.status_code == 302, response.text
        return response.headers["location"]

    def sign_in(self, username: str = ADMIN) -> str:
        """The whole sign-in; the upload page's form token."""
        page = self.get(self.authorize(self.start(), username))
        assert page.status_code == 200, page.text
        found = re.search(r"name='form_token' value='([^']+)'", page.text)
        assert found is not None
        return found.group(1)

    def upload(self, pem: str, form_token: str) -> httpx.Response:
        return self.post(self.world.server.url + "/enroll/certificate", {"certificate": pem, "form_token": form_token})


def the_code(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    found = re.search(r"<pre id='code'>([^<]+)</pre>", page.text)
    assert found is not None
    return found.group(1)


def prove(world: World, org: Org, code: str, **overrides: str) -> httpx.Response:
    claims = {"enrollment_code": code, **overrides}
    assertion = org.assertion(world.server.url + "/enroll/proof", claims=claims)
    return httpx.post(world.server.url + "/enroll/proof", data={"assertion": assertion}, timeout=30)


def enroll(world: World, org: Org | None = None, username: str = ADMIN) -> str:
    browser = Browser(world)
    return the_code(browser.upload((org or world.org).certificate_pem, browser.sign_in(username)))


def audit_codes(world: World) -> list[str]:
    with world.server.admin() as admin:
        return [event["code"] for event in reversed(admin.get("/admin/api/v1/audit").json())]


# --- success -----------------------------------------------------------------------------------------


def test_sign_in_upload_prove_and_call(world: World) -> None:
    browser = Browser(world)
    authorize_url = browser.start()
    sent = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(world.login + "/services/oauth2/authorize?")
    assert sent["code_challenge_method"] == ["S256"]
    assert sent["client_id"] == [CLIENT_ID]
    assert sent["redirect_uri"] == [world.server.url + "/enroll/callback"]
    assert CLIENT_SECRET not in authorize_url
    callback = browser.authorize(authorize_url, ADMIN)
    page = browser.get(callback)
    assert page.status_code == 200
    assert ORG_ID in page.text
    # The page's form posts back: under no-referrer a browser would send it with "Origin: null", which
    # the upload refuses; strict-origin keeps the Origin and still sends no path (the code) anywhere.
    assert page.headers["referrer-policy"] == "strict-origin"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    found = re.search(r"name='form_token' value='([^']+)'", page.text)
    assert found is not None
    form_token = found.group(1)
    code_page = browser.upload(world.org.certificate_pem, form_token)
    code = the_code(code_page)
    assert "forcegate_enroll" not in browser.cookies  # the sign-in ended with the upload
    # Not trusted yet: the token endpoint refuses the org's assertions.
    assert exchange(world.server, world.org.assertion(world.server.token_endpoint)).status_code == 400
    proven = prove(world, world.org, code)
    assert proven.status_code == 200, proven.text
    assert proven.json() == {"enrollment_id": code.split(".")[0], "org_id": ORG_ID, "state": "active"}
    granted = exchange(world.server, world.org.assertion(world.server.token_endpoint))
    assert granted.status_code == 200, granted.text
    codes = audit_codes(world)
    assert codes == ["enrollment_sign_in", "enrollment_started", "unknown_issuer", "enrollment_proven", "ok"]
    with world.server.admin() as admin:
        [listed] = admin.get("/admin/api/v1/enrollments").json()
    assert (listed["state"], listed["decided_by"], listed["username"]) == ("active", "policy:auto", ADMIN)


def test_nothing_secret_is_stored_or_shown(world: World) -> None:
    code = enroll(world)
    with world.server.admin() as admin:
        shown = admin.get("/admin/api/v1/enrollments").text + admin.get("/admin/api/v1/audit").text
    database = sqlite3.connect(world.server.settings.data_dir / "forcegate.db")
    dump = "\n".join(database.iterdump())
    database.close()
    for secret in (code, code.split(".")[1], CLIENT_SECRET):
        assert secret not in shown
        assert secret not in dump


def test_the_upload_takes_its_own_origin_and_refuses_null(world: World) -> None:
    browser = Browser(world)
    form = {"certificate": world.org.certificate_pem, "form_token": browser.sign_in()}
    for origin in ("null", "https://evil.example.com"):
        refused = httpx.post(
            world.server.url + "/enroll/certificate",
            data=form,
            headers={**browser._headers(), "origin": origin},
            timeout=30,
        )
        assert refused.status_code == 400, origin
    accepted = httpx.post(
        world.server.url + "/enroll/certificate",
        data=form,
        headers={**browser._headers(), "origin": world.server.url},
        timeout=30,
    )
    the_code(accepted)


# --- the Salesforce token is dropped ------------------------------------------------------------------


def _userinfo(world: World, token: str) -> int:
    return httpx.get(
        world.login + "/services/oauth2/userinfo", headers={"authorization": f"Bearer {token}"}, timeout=30
    ).status_code


@pytest.mark.parametrize("username", [ADMIN, PLAIN])
def test_the_salesforce_token_is_revoked_after_the_sign_in(world: World, username: str) -> None:
    """Allowed or refused, the sign-in's access token is revoked once the admin check is done."""
    browser = Browser(world)
    page = browser.get(browser.authorize(browser.start(), username))
    assert page.status_code == (200 if username == ADMIN else 403)
    [token] = world.emulator.web.issued_tokens
    assert world.emulator.revocations == 1
    assert _userinfo(world, token) == 403  # Bad_OAuth_Token: the session is over


def test_a_failed_revocation_is_logged_without_the_token_and_blocks_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.emulator.revocation_outage = True
    with caplog.at_level(logging.WARNING, logger="forcegate.service"):
        code = enroll(world)
    assert prove(world, world.org, code).json()["state"] == "active"
    [token] = world.emulator.web.issued_tokens
    assert _userinfo(world, token) == 200  # not revoked: it lives until Salesforce's session timeout
    [line] = [r.getMessage() for r in caplog.records if "not revoked" in r.getMessage()]
    assert "HTTP 503" in line
    assert token not in line
    assert token.split("!")[1] not in caplog.text


# --- refusals ----------------------------------------------------------------------------------------


def test_a_user_who_is_not_an_administrator_is_refused(world: World) -> None:
    browser = Browser(world)
    page = browser.get(browser.authorize(browser.start(), PLAIN))
    assert page.status_code == 403
    assert "not_org_administrator" in page.text
    refused = browser.upload(world.org.certificate_pem, "x" * 43)
    assert refused.status_code == 400  # never signed in
    assert "not_org_administrator" in audit_codes(world)
    with world.server.admin() as admin:
        assert admin.get("/admin/api/v1/enrollments").json() == []


def test_another_orgs_assertion_is_refused(world: World) -> None:
    code = enroll(world)
    # Signed by another org's key, as that org, with our code.
    assert prove(world, world.other, code).json() == {"error": "invalid_grant"}
    # Signed with the enrolled key but claiming another org.
    claims = {"enrollment_code": code}
    assertion = world.org.assertion(world.server.url + "/enroll/proof", iss=OTHER_ORG_ID, claims=claims)
    refused = httpx.post(world.server.url + "/enroll/proof", data={"assertion": assertion}, timeout=30)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant"}
    assert prove(world, world.org, code).json()["state"] == "active"  # the code was not spent


def test_a_certificate_trusted_for_another_org_is_refused(world: World) -> None:
    register_org(world.server.url, world.server.admin_token, world.other)
    browser = Browser(world)
    refused = browser.upload(world.other.certificate_pem, browser.sign_in())
    assert refused.status_code == 409
    assert "certificate_shared" in refused.text
    with world.server.admin() as admin:
        assert admin.get("/admin/api/v1/enrollments").json() == []


@pytest.mark.parametrize("case", ["wrong", "unknown", "replayed", "expired"])
def test_bad_enrollment_codes_are_refused(world: World, case: str) -> None:
    code = enroll(world)
    if case == "wrong":
        attempt = code.split(".")[0] + ".AAAA"
    elif case == "unknown":
        attempt = "enr_" + "a" * 20 + "." + code.split(".")[1]
    elif case == "replayed":
        assert prove(world, world.org, code).status_code == 200
        attempt = code
    else:
        world.server.clock.advance(24 * 3600 + 1)
        attempt = code
    refused = prove(world, world.org, attempt)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant"}
    assert "enrollment_code_invalid" in audit_codes(world)


def test_a_pkce_mismatch_is_refused(world: World) -> None:
    browser = Browser(world)
    authorize_url = browser.start()
    # Someone swaps in their own challenge: Salesforce then refuses our verifier at the code exchange.
    parts = urlsplit(authorize_url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {"code_challenge": "A" * 43}
    page = browser.get(browser.authorize(urlunsplit(parts._replace(query=urlencode(query))), ADMIN))
    assert page.status_code == 400
    assert "invalid code verifier" in page.text
    assert "enrollment_sign_in_failed" in audit_codes(world)


def test_a_state_mismatch_is_refused(world: World) -> None:
    mine, theirs = Browser(world), Browser(world)
    my_callback = mine.authorize(mine.start(), ADMIN)
    theirs.start()
    # Login CSRF: another browser is sent our callback (our code and state, its own cookie).
    assert theirs.get(my_callback).status_code == 400
    # No cookie at all.
    assert httpx.get(my_callback, timeout=30).status_code == 400
    # Our cookie, a state that is not ours.
    parts = urlsplit(my_callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {"state": "B" * 43}
    assert mine.get(urlunsplit(parts._replace(query=urlencode(query)))).status_code == 400
    # None of those spent the sign-in: ours completes, once.
    assert mine.get(my_callback).status_code == 200
    assert mine.get(my_callback).status_code == 400


def test_a_login_host_that_is_not_allowed_is_refused(world: World) -> None:
    response = httpx.get(world.server.url + "/enroll?login=evil.example.com", timeout=30)
    assert response.status_code == 400
    assert "forcegate_enroll" not in response.headers.get("set-cookie", "")


def test_junk_is_answered_without_a_server_error(world: World) -> None:
    url = world.server.url
    for response in (
        httpx.post(url + "/enroll/proof", data={"assertion": "junk"}, timeout=30),
        httpx.post(url + "/enroll/proof", content=b"\xff\xfe", timeout=30),
        httpx.post(url + "/enroll/proof", data={}, timeout=30),
        httpx.post(url + "/enroll/certificate", data={"certificate": "x"}, timeout=30),
        httpx.get(url + "/enroll/callback?state=%00&code=%ff", timeout=30),
        httpx.get(url + "/enroll?login=" + "a" * 5000, timeout=30),
    ):
        assert 400 <= response.status_code < 500, (response.request.url, response.status_code)


def test_the_certificate_file_is_uploaded_as_a_browser_sends_it(world: World) -> None:
    """The upload page's file input: multipart/form-data with the .crt file (PEM or DER), as a browser posts it."""
    browser = Browser(world)
    url = world.server.url + "/enroll/certificate"

    def send(files: dict[str, tuple[str, bytes, str]], **fields: str) -> httpx.Response:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())}
        return httpx.post(url, data={"form_token": form_token, **fields}, files=files, headers=headers, timeout=30)

    page = browser.get(browser.authorize(browser.start(), ADMIN))
    assert "enctype='multipart/form-data'" in page.text
    assert "type='file'" in page.text
    found = re.search(r"name='form_token' value='([^']+)'", page.text)
    assert found is not None
    form_token = found.group(1)
    assert send({}).status_code == 400  # neither a file nor a pasted certificate
    two = {"certificate_file": ("a.crt", b"x", "application/x-x509-ca-cert"), "other": ("b.crt", b"y", "text/plain")}
    assert send(two).status_code == 400  # one file at most
    der = world.org.certificate.public_bytes(Encoding.DER)
    started = send({"certificate_file": ("forcegate_cert.crt", der, "application/x-x509-ca-cert")})
    code = the_code(started)
    assert prove(world, world.org, code).status_code == 200
