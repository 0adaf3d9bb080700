"""Login CSRF on /canvas: a cross-site page may not sign a user in with a signed request it holds.

Regression of the penetration test's finding 7 (LOW): a POST with ``Origin: https://evil.example``
opened a session. A browser's ``Origin`` must now name a Salesforce page (or a configured one);
a request without ``Origin`` (not from a browser form) is judged by its signature alone.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from server.live import CONSUMER_KEY, CONSUMER_SECRET, ORG_ID, USER_ID, LiveServer, start_server


@pytest.fixture
def server(tmp_path: Path, clock: FixedClock) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path / "data", clock=clock, canvas_instance_domains=("portal.example.com", "http://127.0.0.1:9999")
    )
    try:
        with live.admin() as admin:
            assert admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
            assert admin.post("/admin/api/v1/orgs", json={"org_id": ORG_ID, "apps": [CONSUMER_KEY]}).status_code == 201
        yield live
    finally:
        live.stop()


def _post(server: LiveServer, origin: str | None) -> httpx.Response:
    signed = sign_envelope(build_envelope(org_id=ORG_ID, user_id=USER_ID), CONSUMER_SECRET)
    headers = {} if origin is None else {"origin": origin}
    with server.client() as client:
        return client.post("/canvas", data={"signed_request": signed}, headers=headers)


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "https://acme.lightning.force.com",
        "https://acme--c.vf.force.com",
        "https://acme.my.salesforce.com:443",
        "https://ACME.MY.SALESFORCE.COM",
        "https://acme.portal.example.com",  # a configured suffix
        "http://127.0.0.1:9999",  # a configured origin (an emulator)
    ],
)
def test_a_salesforce_page_or_no_browser_origin_signs_in(server: LiveServer, origin: str | None) -> None:
    response = _post(server, origin)
    assert response.status_code == 303, response.text
    assert "forcegate_session=" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",  # a sandboxed frame or a privacy-redirected page: anyone can make one
        "",
        "http://acme.my.salesforce.com",  # not https
        "https://acme.my.salesforce.com:8443",
        "https://force.com.evil.example",
        "https://evilforce.com",
        "https://acme.my.salesforce.com/path",
        "https://user@acme.my.salesforce.com",
        "https://[::1]",
        "https://127.0.0.1",
        "http://127.0.0.1:9998",  # not the configured port
        "https://portal.example.com.evil.example",
    ],
)
def test_any_other_page_is_refused_and_opens_no_session(server: LiveServer, origin: str) -> None:
    response = _post(server, origin)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    with server.admin() as admin:
        [event] = admin.get("/admin/api/v1/audit?limit=1").json()
    assert event["code"] == "canvas_origin_refused"
    assert event["verified"] is False


def _style_hash(page: str) -> str:
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    return base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")


def test_pages_may_be_framed_by_salesforce_only_and_run_nothing(server: LiveServer) -> None:
    signed_in = _post(server, "https://acme.lightning.force.com")
    cookie = signed_in.headers["set-cookie"].split(";", 1)[0]
    with server.client() as client:
        landing = client.get("/canvas/app", headers={"cookie": cookie})
        refused = client.post("/canvas", data={"signed_request": "x.y"})
        get_page = client.get("/canvas")
    for page in (landing, refused, get_page):
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["x-content-type-options"] == "nosniff"
        policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
        assert policy["default-src"] == "'none'"
        assert policy["style-src"] == f"'sha256-{_style_hash(page.text)}'"  # the page's own style, nothing else
        ancestors = policy["frame-ancestors"].split()
        assert {"https://*.force.com", "https://*.salesforce.com", "https://*.portal.example.com"} <= set(ancestors)
        assert "http://127.0.0.1:9999" in ancestors
        assert "*" not in ancestors
        assert "<script" not in page.text
    assert landing.status_code == 200
    assert refused.status_code == 401


@pytest.mark.parametrize(("origin", "ended"), [("https://evil.example", False), (None, True), ("self", True)])
def test_another_site_cannot_end_a_session_either(server: LiveServer, origin: str | None, ended: bool) -> None:
    cookie = _post(server, None).headers["set-cookie"].split(";", 1)[0]
    headers = {"cookie": cookie}
    if origin is not None:
        headers["origin"] = server.url if origin == "self" else origin
    with server.client() as client:
        response = client.post("/canvas/logout", headers=headers)
        me = client.get("/api/v1/me", headers={"cookie": cookie})
    assert response.status_code == (200 if ended else 403)
    assert me.status_code == (401 if ended else 200)
