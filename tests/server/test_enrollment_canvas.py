"""Enrollment from inside a Canvas app, end to end over real HTTP (decision 0022): the service, the
Salesforce emulator (userinfo and the permission query for the envelope's token) and the org's proof.

The Canvas iframe is played by hand: Salesforce's page POSTs the signed request (with its ``Origin``),
the upload page's form is posted back with its upload token and no cookie at all.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools import SalesforceEmulator, build_envelope, running_emulator, sign_envelope
from helpers import self_signed
from server.live import CONSUMER_KEY, CONSUMER_SECRET, ORG_ID, OTHER_ORG_ID, LiveServer, Org, exchange, make_org
from server.live import start_server as start_live_server

ADMIN_ID, ADMIN = "0055g00000AbCdEAAV", "admin@acme.example"
PLAIN_ID, PLAIN = "0055g00000XyZwEAAV", "user@acme.example"
OTHER_ADMIN_ID, OTHER_ADMIN = "0055g00000OtHeRAAV", "admin@other.example"
UNBOUND_KEY, UNBOUND_SECRET = "3MVG9_unbound_canvas_app", "unbound-consumer-secret-1"


@dataclass
class World:
    server: LiveServer
    emulator: SalesforceEmulator
    instance: str  # the emulator's origin: the envelopes' instanceUrl
    org: Org

    def envelope(self, **overrides: Any) -> dict[str, Any]:
        """A Canvas envelope of the admin of ORG_ID, with a live session token of theirs."""
        fields: dict[str, Any] = {
            "org_id": ORG_ID,
            "user_id": ADMIN_ID,
            "user_name": ADMIN,
            "instance_url": self.instance,
            "oauth_token": self.emulator.issue_session_token(ORG_ID, ADMIN_ID),
            "now": self.server.clock.now(),
        }
        return build_envelope(**{**fields, **overrides})

    def post(self, path: str, form: dict[str, str], *, origin: str | None = None) -> httpx.Response:
        headers = {} if origin is None else {"origin": origin}
        return httpx.post(self.server.url + path, data=form, headers=headers, timeout=30, follow_redirects=False)

    def open_app(self, envelope: dict[str, Any] | None = None, *, secret: str = CONSUMER_SECRET) -> httpx.Response:
        """Salesforce's page posts the signed request into the iframe (Origin: the instance)."""
        signed = sign_envelope(envelope or self.envelope(), secret)
        return self.post("/enroll/canvas", {"signed_request": signed}, origin=self.instance)

    def upload(self, upload_token: str, pem: str | None = None) -> httpx.Response:
        form = {"upload_token": upload_token, "certificate": pem or self.org.certificate_pem}
        return self.post("/enroll/canvas/certificate", form, origin=self.server.url)

    def audit(self) -> list[dict[str, Any]]:
        with self.server.admin() as admin:
            return list(reversed(admin.get("/admin/api/v1/audit", params={"limit": 1000}).json()))

    def enrollments(self) -> list[dict[str, Any]]:
        with self.server.admin() as admin:
            found: list[dict[str, Any]] = admin.get("/admin/api/v1/enrollments").json()
        return found


def start_server(tmp_path: Path, clock: FixedClock, instance: str, **overrides: Any) -> LiveServer:
    settings = {
        "enrollment_canvas": True,
        "enrollment_policy": "auto",
        "canvas_instance_domains": (instance,),
        **overrides,
    }
    return start_live_server(tmp_path / "data", clock=clock, **settings)


def register_canvas_org(server: LiveServer) -> None:
    """ORG_ID reaches the app through Canvas: registered, bound to CONSUMER_KEY, no certificate yet.
    A second app, UNBOUND_KEY, is registered but ORG_ID is not bound to it."""
    with server.admin() as admin:
        for key, secret in ((CONSUMER_KEY, CONSUMER_SECRET), (UNBOUND_KEY, UNBOUND_SECRET)):
            assert admin.post("/admin/api/v1/apps", json={"consumer_key": key, "secret": secret}).status_code == 201
        created = admin.post("/admin/api/v1/orgs", json={"org_id": ORG_ID, "scopes": ["api"], "apps": [CONSUMER_KEY]})
        assert created.status_code == 201, created.text


@pytest.fixture
def world(tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> Iterator[World]:
    emulator = SalesforceEmulator(clock)
    emulator.add_user(ORG_ID, ADMIN_ID, ADMIN, permissions=("CustomizeApplication",))
    emulator.add_user(ORG_ID, PLAIN_ID, PLAIN)
    emulator.add_user(OTHER_ORG_ID, OTHER_ADMIN_ID, OTHER_ADMIN, permissions=("ModifyAllData",))
    with running_emulator(emulator) as instance:
        server = start_server(tmp_path, clock, instance)
        try:
            register_canvas_org(server)
            yield World(server, emulator, instance, make_org(ORG_ID, rsa_key, clock))
        finally:
            server.stop()


def upload_token(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    found = re.search(r"name='upload_token' value='([^']+)'", page.text)
    assert found is not None, page.text
    return found.group(1)


def the_code(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    found = re.search(r"<pre id='code'>([^<]+)</pre>", page.text)
    assert found is not None, page.text
    return found.group(1)


def prove(world: World, code: str) -> httpx.Response:
    assertion = world.org.assertion(world.server.url + "/enroll/proof", claims={"enrollment_code": code})
    return httpx.post(world.server.url + "/enroll/proof", data={"assertion": assertion}, timeout=30)


def codes(world: World) -> list[str]:
    return [row["code"] for row in world.audit()]


# --- success -----------------------------------------------------------------------------------------


def test_an_admin_enrolls_from_the_canvas_app_and_proves(world: World) -> None:
    page = world.open_app()
    token = upload_token(page)
    assert "set-cookie" not in page.headers  # inside the iframe: no cookie is relied on
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://*.salesforce.com" in policy  # Salesforce may frame it
    assert "form-action 'self'" in policy
    # The form posts back: its Origin must survive the page's referrer policy (enroll_pages).
    assert page.headers["referrer-policy"] == "strict-origin"
    assert f"action='{world.server.url}/enroll/canvas/certificate'" in page.text
    assert ORG_ID in page.text
    assert ADMIN in page.text

    code_page = world.upload(token)
    code = the_code(code_page)
    assert "frame-ancestors 'self' https://*.salesforce.com" in code_page.headers["content-security-policy"]
    assert exchange(world.server, world.org.assertion(world.server.token_endpoint)).status_code == 400
    proven = prove(world, code)
    assert proven.json() == {"enrollment_id": code.split(".")[0], "org_id": ORG_ID, "state": "active"}
    assert exchange(world.server, world.org.assertion(world.server.token_endpoint)).status_code == 200

    [enrollment] = world.enrollments()
    assert (enrollment["state"], enrollment["username"], enrollment["user_id"]) == ("active", ADMIN, ADMIN_ID)
    rows = world.audit()
    signed_in = next(row for row in rows if row["code"] == "enrollment_sign_in")
    assert (signed_in["endpoint"], signed_in["credential"], signed_in["org_id"]) == ("/enroll/canvas", "canvas", ORG_ID)
    assert (signed_in["user_id"], signed_in["subject"]) == (ADMIN_ID, ADMIN)
    started = next(row for row in rows if row["code"] == "enrollment_started")
    assert started["endpoint"] == "/enroll/canvas/certificate"
    # The envelope's session is the user's Canvas session: forcegate does not revoke it.
    assert world.emulator.revocations == 0


def test_the_consumer_key_path_routes_to_that_app_only(world: World) -> None:
    signed = sign_envelope(world.envelope(), CONSUMER_SECRET)
    page = world.post(f"/enroll/canvas/{CONSUMER_KEY}", {"signed_request": signed}, origin=world.instance)
    assert world.upload(upload_token(page)).status_code == 200
    refused = world.post(f"/enroll/canvas/{UNBOUND_KEY}", {"signed_request": signed}, origin=world.instance)
    assert refused.status_code == 401  # checked against the named app's secret only
    assert "canvas_signature_invalid" in refused.text


def test_nothing_secret_is_stored_or_shown(world: World) -> None:
    session_token = world.emulator.issue_session_token(ORG_ID, ADMIN_ID)
    token = upload_token(world.open_app(world.envelope(oauth_token=session_token)))
    code = the_code(world.upload(token))
    with world.server.admin() as admin:
        shown = admin.get("/admin/api/v1/enrollments").text + admin.get("/admin/api/v1/audit").text
    database = sqlite3.connect(world.server.settings.data_dir / "forcegate.db")
    dump = "\n".join(database.iterdump())
    database.close()
    for secret in (code, session_token, token, CONSUMER_SECRET):
        assert secret not in shown
        assert secret not in dump


# --- refusals ----------------------------------------------------------------------------------------


def test_a_user_who_is_not_an_administrator_is_refused(world: World) -> None:
    envelope = world.envelope(
        user_id=PLAIN_ID, user_name=PLAIN, oauth_token=world.emulator.issue_session_token(ORG_ID, PLAIN_ID)
    )
    page = world.open_app(envelope)
    assert page.status_code == 403
    assert "not_org_administrator" in page.text
    assert "frame-ancestors 'self' https://*.salesforce.com" in page.headers["content-security-policy"]
    assert "upload_token" not in page.text
    assert world.enrollments() == []
    assert codes(world)[-1] == "not_org_administrator"


def test_a_signed_request_of_an_app_the_org_is_not_bound_to_is_refused(world: World) -> None:
    page = world.open_app(secret=UNBOUND_SECRET)
    assert page.status_code == 403
    assert "canvas_org_refused" in page.text
    [row] = [row for row in world.audit() if row["result"] == "denied"]
    assert (row["code"], row["org_id"], row["verified"]) == ("canvas_org_refused", ORG_ID, True)
    assert "does not trust app 3MVG9_unbound_canvas_app" in row["detail"]


def test_an_unregistered_org_cannot_enroll_through_a_bound_app(world: World) -> None:
    """The binding of decision 0013 applies as at /canvas: an app's secret speaks for its orgs only."""
    envelope = world.envelope(
        org_id=OTHER_ORG_ID,
        user_id=OTHER_ADMIN_ID,
        user_name=OTHER_ADMIN,
        oauth_token=world.emulator.issue_session_token(OTHER_ORG_ID, OTHER_ADMIN_ID),
    )
    page = world.open_app(envelope)
    assert page.status_code == 403
    assert "canvas_org_refused" in page.text


def _tampered(signed: str) -> str:
    signature, payload = signed.split(".", 1)
    envelope = json.loads(base64.b64decode(payload))
    envelope["context"]["user"]["userName"] = "mallory@acme.example"
    return signature + "." + base64.b64encode(json.dumps(envelope).encode()).decode()


def test_a_tampered_envelope_is_refused(world: World) -> None:
    signed = _tampered(sign_envelope(world.envelope(), CONSUMER_SECRET))
    page = world.post("/enroll/canvas", {"signed_request": signed}, origin=world.instance)
    assert page.status_code == 401
    assert "canvas_signature_invalid" in page.text
    [row] = [row for row in world.audit() if row["result"] == "denied"]
    assert (row["code"], row["verified"]) == ("canvas_signature_invalid", False)


def test_an_envelope_whose_session_expired_is_refused(world: World) -> None:
    """A signed request has no expiry of its own (issuedAt is "for internal use only"); what ends is
    its session, which the enrollment asks Salesforce about."""
    short = world.emulator.issue_session_token(ORG_ID, ADMIN_ID, lifetime=60)
    envelope = world.envelope(oauth_token=short)
    world.server.clock.advance(61)
    page = world.open_app(envelope)
    assert page.status_code == 401
    assert "canvas_session_not_live" in page.text
    assert world.enrollments() == []


def test_an_envelope_with_another_users_session_is_refused(world: World) -> None:
    """Whoever holds the consumer secret can sign any envelope: naming our org and admin while
    carrying a session of their own (an admin of their org) must not pass the admin check."""
    theirs = world.emulator.issue_session_token(OTHER_ORG_ID, OTHER_ADMIN_ID)
    page = world.open_app(world.envelope(oauth_token=theirs))
    assert page.status_code == 401
    assert "canvas_session_not_live" in page.text
    assert "another organization" in next(r["detail"] for r in world.audit() if r["result"] == "denied")
    assert world.enrollments() == []


@pytest.mark.parametrize(
    "instance_url",
    [
        "https://evil.example.com",
        "https://acme.my.salesforce.com.evil.example",
        "http://127.0.0.1:9",
        "https://10.0.0.1",
        "https://acme.my.salesforce.com/services/data",
    ],
)
def test_an_instance_url_off_salesforces_domains_is_refused(world: World, instance_url: str) -> None:
    page = world.open_app(world.envelope(instance_url=instance_url))
    assert page.status_code == 401
    assert "canvas_session_not_live" in page.text
    [row] = [row for row in world.audit() if row["result"] == "denied"]
    assert "client.instanceUrl" in row["detail"]


def test_a_replayed_upload_token_is_refused(world: World) -> None:
    token = upload_token(world.open_app())
    assert world.upload(token).status_code == 200
    replayed = world.upload(token)
    assert replayed.status_code == 400
    assert "enrollment_sign_in_failed" in replayed.text
    assert len(world.enrollments()) == 1


def test_a_refused_certificate_spends_the_upload_token(world: World, weak_rsa_key: rsa.RSAPrivateKey) -> None:
    token = upload_token(world.open_app())
    weak = self_signed(weak_rsa_key).public_bytes(serialization.Encoding.PEM).decode("ascii")
    refused = world.upload(token, weak)
    assert refused.status_code == 400
    assert "weak_key" in refused.text
    again = world.upload(token)
    assert again.status_code == 400
    assert "open the app again from Salesforce" in again.text
    assert world.enrollments() == []


def test_an_expired_upload_token_is_refused(world: World) -> None:
    token = upload_token(world.open_app())
    world.server.clock.advance(601)
    refused = world.upload(token)
    assert refused.status_code == 400
    assert "unknown or expired" in refused.text


@pytest.mark.parametrize("token", ["", "x" * 47, "cvs_" + "A" * 43])
def test_an_unknown_upload_token_is_refused(world: World, token: str) -> None:
    refused = world.upload(token)
    assert refused.status_code == 400
    assert "enrollment_sign_in_failed" in refused.text


def test_the_web_flows_upload_does_not_take_a_canvas_upload_token(world: World) -> None:
    """The two sign-ins share a table, never a credential: the upload token is not a browser value."""
    token = upload_token(world.open_app())
    response = httpx.post(
        world.server.url + "/enroll/certificate",
        data={"certificate": world.org.certificate_pem, "form_token": "x"},
        headers={"cookie": f"forcegate_enroll={token}"},
        timeout=30,
    )
    assert response.status_code == 400
    assert world.enrollments() == []


def test_a_post_from_another_site_is_refused(world: World) -> None:
    signed = sign_envelope(world.envelope(), CONSUMER_SECRET)
    for origin in ("https://evil.example.com", "null"):
        page = world.post("/enroll/canvas", {"signed_request": signed}, origin=origin)
        assert page.status_code == 403, origin
        assert "canvas_origin_refused" in page.text
    token = upload_token(world.open_app())
    form = {"upload_token": token, "certificate": world.org.certificate_pem}
    assert world.post("/enroll/canvas/certificate", form, origin="https://evil.example.com").status_code == 400
    assert world.post("/enroll/canvas/certificate", form, origin="null").status_code == 400
    assert world.upload(token).status_code == 200  # the refused posts did not spend it


def test_canvas_enrollment_is_off_unless_enabled(tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> None:
    emulator = SalesforceEmulator(clock)
    emulator.add_user(ORG_ID, ADMIN_ID, ADMIN, permissions=("CustomizeApplication",))
    with running_emulator(emulator) as instance:
        server = start_server(tmp_path, clock, instance, enrollment_canvas=False)
        try:
            register_canvas_org(server)
            world = World(server, emulator, instance, make_org(ORG_ID, rsa_key, clock))
            page = world.open_app()
            assert page.status_code == 400
            assert "not enabled" in page.text
            assert world.enrollments() == []
        finally:
            server.stop()


def test_junk_is_answered_without_a_server_error(world: World) -> None:
    for response in (
        world.post("/enroll/canvas", {"signed_request": "junk"}),
        world.post("/enroll/canvas", {}),
        httpx.post(world.server.url + "/enroll/canvas", content=b"\xff\xfe", timeout=30),
        world.post("/enroll/canvas", {"signed_request": "a." + "b" * 400_000}),
        world.post("/enroll/canvas/nonexistent_app", {"signed_request": "a.b"}),
        world.post("/enroll/canvas/certificate", {"upload_token": "\x00"}),
        world.post("/enroll/canvas/certificate", {"upload_token": upload_token(world.open_app()), "certificate": "x"}),
    ):
        assert 400 <= response.status_code < 500, (response.request.url, response.status_code, response.text[:200])
