"""RFC 7662 introspection and RFC 7009 revocation over real HTTP."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from forcegate.clock import FixedClock
from server.live import USER_ID, USERNAME, LiveServer, Org, exchange, register_org, start_server


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _token(server: LiveServer, org: Org, **extra: str) -> str:
    response = exchange(server, org.assertion(server.token_endpoint), **extra)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _introspect(server: LiveServer, token: str, *, bearer: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {bearer if bearer is not None else server.admin_token}"}
    with server.client() as client:
        return client.post("/oauth2/introspect", data={"token": token}, headers=headers)


def _revoke(server: LiveServer, token: str, *, bearer: str | None, **extra: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {bearer}"} if bearer is not None else {}
    with server.client() as client:
        return client.post("/oauth2/revoke", data={"token": token, **extra}, headers=headers)


def _me(server: LiveServer, token: str) -> httpx.Response:
    with server.client() as client:
        return client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})


# --- introspection -----------------------------------------------------------------------------------


def test_introspection_needs_the_admin_token(live_server: LiveServer, registered: Org) -> None:
    token = _token(live_server, registered)
    with live_server.client() as client:
        anonymous = client.post("/oauth2/introspect", data={"token": token})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith('Bearer realm="forcegate"')
    assert "active" not in anonymous.json()
    wrong = _introspect(live_server, token, bearer="not-the-admin-token")
    assert wrong.status_code == 401
    assert "active" not in wrong.json()
    # The token itself is no credential for introspection.
    assert _introspect(live_server, token, bearer=token).status_code == 401


INTROSPECTION_TOKEN = "resource-server-0123456789"


def test_an_introspection_token_introspects_and_nothing_else(tmp_path: Path, clock: FixedClock, org: Org) -> None:
    server = start_server(tmp_path / "data", clock=clock, introspection_token=INTROSPECTION_TOKEN)
    try:
        register_org(server.url, server.admin_token, org)
        token = _token(server, org)
        answer = _introspect(server, token, bearer=INTROSPECTION_TOKEN)
        assert answer.status_code == 200
        assert answer.json()["active"] is True
        assert _introspect(server, token).json()["active"] is True  # the admin token still does
        assert _introspect(server, token, bearer=INTROSPECTION_TOKEN + "x").status_code == 401
        # It is no admin credential: not at the admin API, not to revoke another's token.
        with server.client() as client:
            headers = {"authorization": f"Bearer {INTROSPECTION_TOKEN}"}
            assert client.get("/admin/api/v1/orgs", headers=headers).status_code == 401
        assert _revoke(server, token, bearer=INTROSPECTION_TOKEN).status_code == 401
        assert _introspect(server, token, bearer=INTROSPECTION_TOKEN).json()["active"] is True
    finally:
        server.stop()


def test_active_token(live_server: LiveServer, registered: Org) -> None:
    token = _token(live_server, registered, scope="orders:read")
    response = _introspect(live_server, token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    claims = _claims(token)
    assert body["active"] is True
    assert body["scope"] == "orders:read"
    assert body["client_id"] == registered.org_id
    assert body["org_id"] == registered.org_id
    assert body["user_id"] == USER_ID
    assert body["username"] == USERNAME
    assert body["sub"] == USER_ID
    assert body["exp"] == claims["exp"] == int(live_server.clock.now()) + live_server.settings.token_lifetime
    assert body["jti"] == claims["jti"]
    assert body["iss"] == live_server.url
    assert body["token_type"] == "Bearer"


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "e30.e30.e30", "x" * 20000])
def test_garbage_is_inactive(live_server: LiveServer, garbage: str) -> None:
    response = _introspect(live_server, garbage)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_an_apex_assertion_is_not_an_active_access_token(live_server: LiveServer, registered: Org) -> None:
    assertion = registered.assertion(live_server.url)
    assert _introspect(live_server, assertion).json() == {"active": False}
    # Introspecting it did not consume it.
    assert _me(live_server, assertion).status_code == 200


def test_expired_token_is_inactive(live_server: LiveServer, registered: Org) -> None:
    token = _token(live_server, registered)
    assert _introspect(live_server, token).json()["active"] is True
    live_server.clock.advance(live_server.settings.token_lifetime + live_server.settings.leeway)
    assert _introspect(live_server, token).json() == {"active": False}


def test_token_of_a_disabled_org_is_inactive(live_server: LiveServer, registered: Org) -> None:
    token = _token(live_server, registered)
    with live_server.admin() as admin:
        assert admin.patch(f"/admin/api/v1/orgs/{registered.org_id}", json={"enabled": False}).status_code == 200
    assert _introspect(live_server, token).json() == {"active": False}


def test_introspection_request_errors(live_server: LiveServer) -> None:
    headers = {"authorization": f"Bearer {live_server.admin_token}"}
    with live_server.client() as client:
        missing = client.post("/oauth2/introspect", data={}, headers=headers)
        as_json = client.post("/oauth2/introspect", json={"token": "x"}, headers=headers)
        repeated = client.post(
            "/oauth2/introspect",
            content=b"token=a&token=b",
            headers={
                **headers,
                "content-type": "application/x-www-form-urlencoded",
            },
        )
        get = client.get("/oauth2/introspect", headers=headers)
    for response in (missing, as_json, repeated):
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
    assert get.status_code == 405


# --- revocation --------------------------------------------------------------------------------------


def test_holder_revokes_its_own_token(live_server: LiveServer, registered: Org) -> None:
    token = _token(live_server, registered)
    assert _me(live_server, token).status_code == 200  # verified and cached before the revocation
    response = _revoke(live_server, token, bearer=token, token_type_hint="access_token")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    refused = _me(live_server, token)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert _introspect(live_server, token).json() == {"active": False}
    # Revoked, it no longer authenticates even a revocation of itself.
    assert _revoke(live_server, token, bearer=token).status_code == 401
    with live_server.admin() as admin:
        events = admin.get("/admin/api/v1/audit", params={"limit": 10}).json()
    revoked = [e for e in events if e["endpoint"] == "/oauth2/revoke"]
    assert revoked
    assert revoked[0]["credential"] == "access-token"
    assert revoked[0]["org_id"] == registered.org_id


def test_holder_cannot_revoke_another_token(live_server: LiveServer, registered: Org) -> None:
    mine = _token(live_server, registered)
    theirs = _token(live_server, registered)
    response = _revoke(live_server, theirs, bearer=mine)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert _me(live_server, theirs).status_code == 200
    assert _me(live_server, mine).status_code == 200


def test_unauthenticated_revocation_is_refused(live_server: LiveServer, registered: Org) -> None:
    token = _token(live_server, registered)
    response = _revoke(live_server, token, bearer=None)
    assert response.status_code == 401
    assert "www-authenticate" in response.headers
    assert _revoke(live_server, token, bearer="wrong").status_code == 401
    assert _me(live_server, token).status_code == 200


def test_holder_presenting_garbage_is_refused(live_server: LiveServer) -> None:
    # Caller and token agree, but it is no token of ours: not an authorised caller (unlike the admin).
    assert _revoke(live_server, "garbage", bearer="garbage").status_code == 401


def test_admin_revokes_any_token(live_server: LiveServer, registered: Org) -> None:
    token = _token(live_server, registered)
    assert _revoke(live_server, token, bearer=live_server.admin_token).status_code == 200
    assert _me(live_server, token).status_code == 401
    assert _introspect(live_server, token).json() == {"active": False}
    # Revoking it again, and revoking garbage, is no error for the admin (RFC 7009 §2.2).
    assert _revoke(live_server, token, bearer=live_server.admin_token).status_code == 200
    assert _revoke(live_server, "garbage", bearer=live_server.admin_token).status_code == 200


def test_revoking_one_token_leaves_the_others(live_server: LiveServer, registered: Org) -> None:
    first, second = _token(live_server, registered), _token(live_server, registered)
    assert _revoke(live_server, first, bearer=live_server.admin_token).status_code == 200
    assert _me(live_server, first).status_code == 401
    assert _me(live_server, second).status_code == 200


def test_revocation_request_errors(live_server: LiveServer) -> None:
    headers = {"authorization": f"Bearer {live_server.admin_token}"}
    with live_server.client() as client:
        missing = client.post("/oauth2/revoke", data={}, headers=headers)
        as_json = client.post("/oauth2/revoke", json={"token": "x"}, headers=headers)
        basic = client.post("/oauth2/revoke", data={"token": "x"}, headers={"authorization": "Basic eDp5"})
        get = client.get("/oauth2/revoke", headers=headers)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    assert as_json.status_code == 400
    assert basic.status_code == 401
    assert get.status_code == 405


def test_admin_revocation_outlives_a_disabled_org(live_server: LiveServer, registered: Org) -> None:
    # Incident response: disable the org, revoke its tokens, enable it again later.
    token = _token(live_server, registered)
    path = f"/admin/api/v1/orgs/{registered.org_id}"
    with live_server.admin() as admin:
        assert admin.patch(path, json={"enabled": False}).status_code == 200
        assert _revoke(live_server, token, bearer=live_server.admin_token).status_code == 200
        assert admin.patch(path, json={"enabled": True}).status_code == 200
    assert _me(live_server, token).status_code == 401
    assert _introspect(live_server, token).json() == {"active": False}
