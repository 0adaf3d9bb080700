"""Canvas trust is tenant-tight, and a session lasts only as long as the trust that opened it.

Regressions of the penetration test's findings 1 (HIGH: a Canvas secret opened a session for an org
that never trusted its app) and 3 (MEDIUM: sessions outlived the org, the app or the secret).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from forcegate.devtools import build_envelope, sign_envelope
from server.live import CONSUMER_KEY, CONSUMER_SECRET, OTHER_ORG_ID, USER_ID, LiveServer, Org

PREFIX = "/admin/api/v1"
APP_X, SECRET_X = "3MVG9_app_x", "app-x-consumer-secret-000"


def _signed(org_id: str, secret: str = CONSUMER_SECRET) -> str:
    return sign_envelope(build_envelope(org_id=org_id, user_id=USER_ID, user_name="grace@example.com"), secret)


def _post(server: LiveServer, signed_request: str, path: str = "/canvas") -> httpx.Response:
    with server.client() as client:
        return client.post(path, data={"signed_request": signed_request})


def _session(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"].partition("=")[2].split(";", 1)[0]


def _me(server: LiveServer, session: str) -> httpx.Response:
    with server.client() as client:
        return client.get("/api/v1/me", headers={"cookie": f"forcegate_session={session}"})


def _admin(server: LiveServer, method: str, path: str, **body: Any) -> httpx.Response:
    with server.admin() as admin:
        response = admin.request(method, PREFIX + path, json=body or None)
    assert response.status_code < 300, response.text
    return response


@pytest.fixture
def tenants(live_server: LiveServer, registered: Org) -> Org:
    """App CONSUMER_KEY bound to org A (``registered``); org B registered, bound to nothing."""
    _admin(live_server, "POST", "/apps", consumer_key=CONSUMER_KEY, secret=CONSUMER_SECRET)
    _admin(live_server, "PATCH", f"/orgs/{registered.org_id}", apps=[CONSUMER_KEY])
    _admin(live_server, "POST", "/orgs", org_id=OTHER_ORG_ID, scopes=["b-only"])
    return registered


@pytest.mark.parametrize("path", ["/canvas", f"/canvas/{CONSUMER_KEY}"])
def test_an_apps_secret_opens_no_session_for_an_org_that_does_not_trust_it(
    live_server: LiveServer, tenants: Org, path: str
) -> None:
    assert _post(live_server, _signed(tenants.org_id), path).status_code == 303  # org A trusts the app
    refused = _post(live_server, _signed(OTHER_ORG_ID), path)
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers
    [event] = _admin(live_server, "GET", "/audit?limit=1").json()
    assert (event["code"], event["org_id"], event["verified"]) == ("canvas_org_refused", OTHER_ORG_ID, True)
    assert f"org {OTHER_ORG_ID} does not trust app {CONSUMER_KEY}" in event["detail"]


def test_binding_the_app_is_what_lets_it_in(live_server: LiveServer, tenants: Org) -> None:
    assert _post(live_server, _signed(OTHER_ORG_ID)).status_code == 403
    _admin(live_server, "PATCH", f"/orgs/{OTHER_ORG_ID}", apps=[CONSUMER_KEY])
    session = _session(_post(live_server, _signed(OTHER_ORG_ID)))
    assert _me(live_server, session).json()["scopes"] == ["b-only"]


def test_an_any_org_app_is_flagged_as_the_weaker_model(live_server: LiveServer, tenants: Org) -> None:
    created = _admin(live_server, "POST", "/apps", consumer_key=APP_X, secret=SECRET_X, any_org=True).json()
    assert created["canvas_trust"].startswith("any-org (weaker")
    assert _post(live_server, _signed(OTHER_ORG_ID, SECRET_X)).status_code == 303
    assert _post(live_server, _signed("00D5g000004QQQQEA4", SECRET_X)).status_code == 303  # unregistered too


def test_removing_the_org_ends_its_sessions(live_server: LiveServer, tenants: Org) -> None:
    session = _session(_post(live_server, _signed(tenants.org_id)))
    assert _me(live_server, session).status_code == 200
    _admin(live_server, "DELETE", f"/orgs/{tenants.org_id}")
    assert _me(live_server, session).status_code == 401
    _admin(live_server, "POST", "/orgs", org_id=tenants.org_id, apps=[CONSUMER_KEY])
    assert _me(live_server, session).status_code == 401  # ended, not suspended: the store forgot it


def test_removing_or_unbinding_the_app_ends_its_sessions(live_server: LiveServer, tenants: Org) -> None:
    first = _session(_post(live_server, _signed(tenants.org_id)))
    _admin(live_server, "PATCH", f"/orgs/{tenants.org_id}", apps=[])
    assert _me(live_server, first).status_code == 401
    _admin(live_server, "PATCH", f"/orgs/{tenants.org_id}", apps=[CONSUMER_KEY])
    second = _session(_post(live_server, _signed(tenants.org_id)))
    _admin(live_server, "DELETE", f"/apps/{CONSUMER_KEY}")
    assert _me(live_server, second).status_code == 401


def test_retiring_the_secret_ends_the_sessions_it_opened(live_server: LiveServer, tenants: Org) -> None:
    old = _session(_post(live_server, _signed(tenants.org_id)))
    new_secret = "second-consumer-secret-0001"
    _admin(live_server, "POST", f"/apps/{CONSUMER_KEY}/secrets", secret=new_secret, keep_previous=1)
    assert _me(live_server, old).status_code == 200  # the previous secret is still active
    new = _session(_post(live_server, _signed(tenants.org_id, new_secret)))
    _admin(live_server, "POST", f"/apps/{CONSUMER_KEY}/secrets", secret="third-consumer-secret-001", keep_previous=0)
    assert _me(live_server, old).status_code == 401
    assert _me(live_server, new).status_code == 401


def test_a_disabled_org_suspends_its_sessions(live_server: LiveServer, tenants: Org) -> None:
    session = _session(_post(live_server, _signed(tenants.org_id)))
    _admin(live_server, "PATCH", f"/orgs/{tenants.org_id}", enabled=False)
    assert _me(live_server, session).status_code == 401
    _admin(live_server, "PATCH", f"/orgs/{tenants.org_id}", enabled=True)
    assert _me(live_server, session).status_code == 200


def test_logout_ends_the_session(live_server: LiveServer, tenants: Org) -> None:
    session = _session(_post(live_server, _signed(tenants.org_id)))
    with live_server.client() as client:
        out = client.post("/canvas/logout", headers={"cookie": f"forcegate_session={session}"})
        again = client.post("/canvas/logout")  # without a session: still fine
    assert out.status_code == 200
    assert "Max-Age=0" in out.headers["set-cookie"]
    assert again.status_code == 200
    assert _me(live_server, session).status_code == 401
    events = _admin(live_server, "GET", "/audit?limit=5").json()
    logouts = [(e["credential"], e["org_id"], e["result"]) for e in events if e["endpoint"] == "/canvas/logout"]
    assert logouts == [("session", tenants.org_id, "allowed")]


def test_revocation_ends_a_session(live_server: LiveServer, tenants: Org) -> None:
    mine = _session(_post(live_server, _signed(tenants.org_id)))
    other = _session(_post(live_server, _signed(tenants.org_id)))
    with live_server.client() as client:
        # A holder revokes its own session with its cookie; not someone else's.
        refused = client.post("/oauth2/revoke", data={"token": other}, headers={"cookie": f"forcegate_session={mine}"})
        done = client.post("/oauth2/revoke", data={"token": mine}, headers={"cookie": f"forcegate_session={mine}"})
        admin = client.post(
            "/oauth2/revoke", data={"token": other}, headers={"authorization": f"Bearer {live_server.admin_token}"}
        )
    assert refused.status_code == 401
    assert done.status_code == 200
    assert admin.status_code == 200
    assert _me(live_server, mine).status_code == 401
    assert _me(live_server, other).status_code == 401
