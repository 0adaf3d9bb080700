"""The legacy Canvas path over real HTTP: signed request -> session cookie -> landing page and API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from forcegate.devtools import build_envelope, sign_envelope
from forcegate.devtools.canvas_signer import sign_payload
from server.live import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    OTHER_ORG_ID,
    RECORD_ID,
    USER_ID,
    LiveServer,
    Org,
)

OTHER_KEY = "3MVG9_other_consumer_key"
OTHER_SECRET = "other-consumer-secret"
XSS = "<script>alert('x')</script>"


def _add_app(
    server: LiveServer, key: str = CONSUMER_KEY, secret: str = CONSUMER_SECRET, *, bind: str | None = None, **extra: Any
) -> None:
    """Register an app; ``bind``: an org whose Canvas requests it may open sessions for."""
    with server.admin() as admin:
        response = admin.post("/admin/api/v1/apps", json={"consumer_key": key, "secret": secret, **extra})
        assert response.status_code == 201, response.text
        if bind is not None:
            apps = admin.get(f"/admin/api/v1/orgs/{bind}").json()["apps"]
            bound = admin.patch(f"/admin/api/v1/orgs/{bind}", json={"apps": [*apps, key]})
            assert bound.status_code == 200, bound.text


@pytest.fixture
def app(live_server: LiveServer, registered: Org) -> Org:
    """The Canvas app registered with its consumer secret, and the org registered and bound to it."""
    _add_app(live_server, bind=registered.org_id)
    return registered


def _signed(org_id: str, secret: str = CONSUMER_SECRET, **extra: Any) -> str:
    envelope = build_envelope(
        org_id=org_id,
        user_id=USER_ID,
        user_name="grace@example.com",
        parameters={"region": "APAC", "note": XSS},
        record={"attributes": {"type": "Account", "url": "/x"}, "Id": RECORD_ID[:15]},
        **extra,
    )
    return sign_envelope(envelope, secret)


def _post(server: LiveServer, signed_request: str, path: str = "/canvas") -> httpx.Response:
    with server.client() as client:
        return client.post(path, data={"signed_request": signed_request})


def _session(response: httpx.Response) -> str:
    """The session id from ``Set-Cookie`` (httpx keeps Secure cookies away from http: read it here)."""
    cookie = response.headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    assert name == "forcegate_session"
    return rest.split(";", 1)[0]


def _assert_refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in response.headers


def test_signed_request_opens_a_session(live_server: LiveServer, app: Org) -> None:
    response = _post(live_server, _signed(app.org_id))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/canvas/app"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "secure", "partitioned", "max-age"} <= set(attributes)
    assert attributes["path"].lower() == "path=/"
    assert attributes["samesite"].lower() == "samesite=none"
    assert attributes["max-age"] == f"Max-Age={live_server.settings.session_lifetime}"
    session = _session(response)
    assert len(session) >= 40

    with live_server.client() as client:
        page = client.get("/canvas/app", headers={"cookie": f"forcegate_session={session}"})
        me = client.get("/api/v1/me", headers={"cookie": f"forcegate_session={session}"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert USER_ID in page.text
    assert "grace@example.com" in page.text
    assert "APAC" in page.text
    assert XSS not in page.text
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text

    assert me.status_code == 200, me.text
    identity = me.json()
    assert identity["source"] == "canvas"
    assert identity["org_id"] == app.org_id
    assert identity["user_id"] == USER_ID
    assert identity["username"] == "grace@example.com"
    assert identity["record_id"] == RECORD_ID
    assert identity["parameters"] == {"region": "APAC", "note": XSS}
    assert identity["issuer"] == CONSUMER_KEY
    assert identity["scopes"] == ["api", "orders:read"]
    with live_server.admin() as admin:
        events = admin.get("/admin/api/v1/audit", params={"limit": 5}).json()
    opened = next(e for e in events if e["endpoint"] == "/canvas")
    assert (opened["result"], opened["credential"], opened["org_id"]) == ("allowed", "canvas", app.org_id)


def test_session_expires(live_server: LiveServer, app: Org) -> None:
    session = _session(_post(live_server, _signed(app.org_id)))
    headers = {"cookie": f"forcegate_session={session}"}
    with live_server.client() as client:
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        live_server.clock.advance(live_server.settings.session_lifetime + 1)
        assert client.get("/api/v1/me", headers=headers).status_code == 401
        assert client.get("/canvas/app", headers=headers).status_code == 401


def test_session_of_a_disabled_org_is_refused(live_server: LiveServer, app: Org) -> None:
    session = _session(_post(live_server, _signed(app.org_id)))
    with live_server.admin() as admin:
        assert admin.patch(f"/admin/api/v1/orgs/{app.org_id}", json={"enabled": False}).status_code == 200
    with live_server.client() as client:
        assert client.get("/api/v1/me", headers={"cookie": f"forcegate_session={session}"}).status_code == 401
        assert client.get("/canvas/app", headers={"cookie": f"forcegate_session={session}"}).status_code == 401


def test_landing_page_without_a_session(live_server: LiveServer) -> None:
    with live_server.client() as client:
        none = client.get("/canvas/app")
        unknown = client.get("/canvas/app", headers={"cookie": "forcegate_session=nope"})
    _assert_refused(none, 401)
    _assert_refused(unknown, 401)


def test_pinned_consumer_key(live_server: LiveServer, app: Org) -> None:
    _add_app(live_server, OTHER_KEY, OTHER_SECRET, bind=app.org_id)
    assert _post(live_server, _signed(app.org_id), f"/canvas/{CONSUMER_KEY}").status_code == 303
    # Signed with the first app's secret, but posted to the other app's URL.
    _assert_refused(_post(live_server, _signed(app.org_id), f"/canvas/{OTHER_KEY}"), 401)
    _assert_refused(_post(live_server, _signed(app.org_id), "/canvas/3MVG9_unknown"), 401)
    # Unpinned, either app's secret is accepted, and the session names the app that signed.
    other = _session(_post(live_server, _signed(app.org_id, OTHER_SECRET)))
    with live_server.client() as client:
        me = client.get("/api/v1/me", headers={"cookie": f"forcegate_session={other}"})
    assert me.json()["issuer"] == OTHER_KEY


def test_no_app_registered(live_server: LiveServer, registered: Org) -> None:
    _assert_refused(_post(live_server, _signed(registered.org_id)), 401)


def test_wrong_secret_and_tampered_payload(live_server: LiveServer, app: Org) -> None:
    _assert_refused(_post(live_server, _signed(app.org_id, "not-the-secret")), 401)
    signature, _, payload = _signed(app.org_id).partition(".")
    forged = sign_envelope(build_envelope(org_id=OTHER_ORG_ID, user_id=USER_ID), "x").partition(".")[2]
    _assert_refused(_post(live_server, f"{signature}.{forged}"), 401)
    # One character of the payload changed.
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    _assert_refused(_post(live_server, f"{signature}.{flipped}"), 401)
    with live_server.admin() as admin:
        codes = {e["code"] for e in admin.get("/admin/api/v1/audit", params={"limit": 5}).json()}
    assert "canvas_signature_invalid" in codes


def test_unregistered_org(live_server: LiveServer, app: Org) -> None:
    _assert_refused(_post(live_server, _signed(OTHER_ORG_ID)), 403)
    _add_app(live_server, OTHER_KEY, OTHER_SECRET, any_org=True)
    response = _post(live_server, _signed(OTHER_ORG_ID, OTHER_SECRET))
    assert response.status_code == 303, response.text
    with live_server.client() as client:
        me = client.get("/api/v1/me", headers={"cookie": f"forcegate_session={_session(response)}"})
    assert me.json()["org_id"] == OTHER_ORG_ID
    assert me.json()["scopes"] == []
    # any_org is per app: the first app still refuses the unregistered org.
    _assert_refused(_post(live_server, _signed(OTHER_ORG_ID)), 403)


def test_disabled_org(live_server: LiveServer, app: Org) -> None:
    _add_app(live_server, OTHER_KEY, OTHER_SECRET, any_org=True)
    with live_server.admin() as admin:
        assert admin.patch(f"/admin/api/v1/orgs/{app.org_id}", json={"enabled": False}).status_code == 200
    _assert_refused(_post(live_server, _signed(app.org_id)), 403)
    _assert_refused(_post(live_server, _signed(app.org_id, OTHER_SECRET)), 403)


def test_secret_rotation(live_server: LiveServer, app: Org) -> None:
    path = f"/admin/api/v1/apps/{CONSUMER_KEY}/secrets"
    with live_server.admin() as admin:
        rotated = admin.post(path, json={"secret": "second-consumer-secret"})
        assert rotated.status_code == 201, rotated.text
        assert "second-consumer-secret" not in rotated.text
        assert len(admin.get(f"/admin/api/v1/apps/{CONSUMER_KEY}").json()["active_secrets"]) == 2
    # The previous secret is kept: Salesforce orgs still signing with it are not cut off.
    assert _post(live_server, _signed(app.org_id)).status_code == 303
    assert _post(live_server, _signed(app.org_id, "second-consumer-secret")).status_code == 303
    with live_server.admin() as admin:
        assert admin.post(path, json={"secret": "third-consumer-secret", "keep_previous": 0}).status_code == 201
        assert len(admin.get(f"/admin/api/v1/apps/{CONSUMER_KEY}").json()["active_secrets"]) == 1
    _assert_refused(_post(live_server, _signed(app.org_id)), 401)
    _assert_refused(_post(live_server, _signed(app.org_id, "second-consumer-secret")), 401)
    assert _post(live_server, _signed(app.org_id, "third-consumer-secret")).status_code == 303


def test_oauth_webflow_get_is_explained(live_server: LiveServer) -> None:
    with live_server.client() as client:
        webflow = client.get("/canvas", params={"_sfdc_canvas_authvalue": "x"})
        pinned = client.get(f"/canvas/{CONSUMER_KEY}", params={"_sfdc_canvas_authvalue": "x"})
        plain = client.get("/canvas")
    for response in (webflow, pinned):
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/html")
        assert "Signed Request (POST)" in response.text
        assert "Access Method" in response.text
    assert plain.status_code == 405
    assert plain.headers["allow"] == "POST"


def test_oversized_bodies(live_server: LiveServer, app: Org) -> None:
    with live_server.client() as client:
        huge = client.post("/canvas", data={"signed_request": "A" * (1024 * 1024)})
        # Under the body limit, over the signed request limit.
        large = client.post("/canvas", data={"signed_request": "A" * (300 * 1024) + ".e30"})
    _assert_refused(huge, 413)
    _assert_refused(large, 413)


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"signed_request": "x.y"}', "application/json", 400),
        (b"signed_request=x.y", "text/plain", 400),
        (b"--b\r\nContent-Disposition: form-data; name=signed_request\r\n\r\nx.y\r\n--b--", "multipart/form-data", 400),
        (b"", "application/x-www-form-urlencoded", 400),
        (b"other=1", "application/x-www-form-urlencoded", 400),
        (b"signed_request=a&signed_request=b", "application/x-www-form-urlencoded", 400),
        (b"signed_request=%ff%fe", "application/x-www-form-urlencoded", 400),  # percent-encoding of non-UTF-8
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400),
        (b"&".join(b"f%d=1" % i for i in range(50)), "application/x-www-form-urlencoded", 400),
        (b"signed_request=", "application/x-www-form-urlencoded", 400),
        (b"signed_request=.", "application/x-www-form-urlencoded", 401),
        (b"signed_request=abc", "application/x-www-form-urlencoded", 401),
        (b"signed_request=%3D%3D.%3D%3D", "application/x-www-form-urlencoded", 401),
        (b"signed_request=" + b"A" * 44 + b".bm90IGpzb24", "application/x-www-form-urlencoded", 401),
    ],
)
def test_malformed_requests_never_500(
    live_server: LiveServer, app: Org, content: bytes, content_type: str, status: int
) -> None:
    with live_server.client() as client:
        response = client.post("/canvas", content=content, headers={"content-type": content_type})
    _assert_refused(response, status)


def test_malformed_envelopes_never_500(live_server: LiveServer, app: Org) -> None:
    good = build_envelope(org_id=app.org_id, user_id=USER_ID)
    variants: list[Any] = [
        [],
        "text",
        {},
        {**good, "algorithm": "HMACSHA1"},
        {**good, "algorithm": None},
        {**good, "context": None},
        {**good, "context": {**good["context"], "organization": {"organizationId": "not-an-id"}}},
        {**good, "userId": 42},
        {**good, "context": {**good["context"], "environment": {"parameters": "not-an-object"}}},
    ]
    for envelope in variants:
        response = _post(live_server, sign_envelope(envelope, CONSUMER_SECRET) if isinstance(envelope, dict) else "x")
        assert response.status_code in (400, 401, 403), (envelope, response.status_code, response.text)
    for payload in (b"[]", b'"text"', b"not json", b"\xff\xfe", b"{" * 5000):
        response = _post(live_server, sign_payload(payload, CONSUMER_SECRET))
        assert response.status_code == 401, (payload[:10], response.status_code)
