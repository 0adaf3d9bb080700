"""``POST /oauth2/token`` over real HTTP: the RFC 7523 grant as Auth.JWTBearerTokenExchange sends it."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.devtools import AuthJWS, AuthJWT, JWTBearerTokenExchange
from forcegate.errors import TokenExchangeError
from server.live import OTHER_ORG_ID, USER_ID, LiveServer, Org, exchange, make_org

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _header(token: str) -> dict[str, object]:
    head = token.split(".")[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return decoded


def test_apex_exchange_then_call(live_server: LiveServer, registered: Org) -> None:
    assertion = AuthJWS(
        AuthJWT(
            iss=registered.org_id,
            sub="ada@example.com",
            aud=live_server.token_endpoint,
            additional_claims={"user_id": USER_ID, "params": {"region": "EMEA"}},
        ),
        "forcegate_cert",
        certificates=registered.certificates,
        clock=registered.clock,
    )
    exchange_call = JWTBearerTokenExchange(live_server.token_endpoint, assertion)
    token = exchange_call.access_token()
    response = exchange_call.http_response()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == live_server.settings.token_lifetime
    assert set(body["scope"].split()) == {"api", "orders:read"}
    assert body["access_token"] == token
    header = _header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"]
    claims = _claims(token)
    assert claims["iss"] == live_server.url
    assert claims["client_id"] == registered.org_id
    assert claims["org_id"] == registered.org_id
    assert claims["user_id"] == USER_ID

    with live_server.client() as client:
        me = client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    identity = me.json()
    assert identity["source"] == "jwt-bearer"
    assert identity["org_id"] == registered.org_id
    assert identity["user_id"] == USER_ID
    assert identity["username"] == "ada@example.com"
    assert identity["parameters"] == {"region": "EMEA"}


def test_the_apex_access_token_call_reads_only_access_token(live_server: LiveServer, registered: Org) -> None:
    assertion = AuthJWS(
        AuthJWT(iss=registered.org_id, sub="ada@example.com", aud=live_server.token_endpoint),
        "forcegate_cert",
        certificates=registered.certificates,
        clock=registered.clock,
    )
    token = JWTBearerTokenExchange(live_server.token_endpoint, assertion).access_token()
    assert token.count(".") == 2


def test_replayed_assertion_is_refused(live_server: LiveServer, registered: Org) -> None:
    assertion = registered.assertion(live_server.token_endpoint)
    assert exchange(live_server, assertion).status_code == 200
    second = exchange(live_server, assertion)
    assert second.status_code == 400
    assert second.json() == {"error": "invalid_grant"}


def test_apex_sees_a_400_as_an_exception_with_the_body(live_server: LiveServer, registered: Org) -> None:
    assertion = AuthJWS(
        AuthJWT(iss=registered.org_id, sub="ada@example.com", aud="https://elsewhere.example.com/token"),
        "forcegate_cert",
        certificates=registered.certificates,
        clock=registered.clock,
    )
    with pytest.raises(TokenExchangeError) as caught:
        JWTBearerTokenExchange(live_server.token_endpoint, assertion).access_token()
    assert caught.value.status_code == 400
    assert json.loads(caught.value.body) == {"error": "invalid_grant"}


def test_expired_assertion(live_server: LiveServer, registered: Org) -> None:
    assertion = registered.assertion(live_server.token_endpoint, validity=60)
    live_server.clock.advance(60 + live_server.settings.leeway + 1)
    assert exchange(live_server, assertion).json() == {"error": "invalid_grant"}


def test_unknown_org_wrong_cert_and_wrong_audience(
    live_server: LiveServer, registered: Org, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    stranger = make_org(OTHER_ORG_ID, other_rsa_key, live_server.clock)
    assert exchange(live_server, stranger.assertion(live_server.token_endpoint)).status_code == 400
    impostor = make_org(registered.org_id, other_rsa_key, live_server.clock)
    assert exchange(live_server, impostor.assertion(live_server.token_endpoint)).json() == {"error": "invalid_grant"}
    assert exchange(live_server, registered.assertion("https://other.example.com")).json() == {"error": "invalid_grant"}
    # The public URL is an accepted audience too, exact match only.
    assert exchange(live_server, registered.assertion(live_server.url)).status_code == 200
    assert exchange(live_server, registered.assertion(live_server.url + "/")).status_code == 400
    with live_server.admin() as admin:
        codes = [e["code"] for e in admin.get("/admin/api/v1/audit", params={"limit": 10}).json()]
    assert {"unknown_issuer", "invalid_signature", "invalid_audience"} <= set(codes)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": GRANT}, "invalid_request"),
        ({"grant_type": "client_credentials", "assertion": "x.y.z"}, "unsupported_grant_type"),
        ({"grant_type": GRANT, "assertion": "not-a-jwt"}, "invalid_grant"),
        ({"grant_type": GRANT, "assertion": "a.b.c"}, "invalid_grant"),
    ],
)
def test_malformed_requests_get_rfc6749_errors(live_server: LiveServer, data: dict[str, str], error: str) -> None:
    with live_server.client() as client:
        response = client.post("/oauth2/token", data=data)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=" + GRANT.encode() + b"&assertion=a&assertion=b",
        b"\xff\xfe",
        b"=&&==",
        b"grant_type=%zz",
        b"x" * (70 * 1024),
    ],
)
def test_garbage_bodies_never_500(live_server: LiveServer, body: bytes) -> None:
    with live_server.client() as client:
        response = client.post(
            "/oauth2/token", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "unsupported_grant_type"}


def test_json_body_and_wrong_method(live_server: LiveServer) -> None:
    with live_server.client() as client:
        assert client.post("/oauth2/token", json={"grant_type": GRANT}).json()["error"] == "invalid_request"
        wrong = client.get("/oauth2/token")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"


def test_scope_request(live_server: LiveServer, registered: Org) -> None:
    granted = exchange(live_server, registered.assertion(live_server.token_endpoint), scope="api")
    assert granted.json()["scope"] == "api"
    refused = exchange(live_server, registered.assertion(live_server.token_endpoint), scope="admin")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"


def test_disabled_org_refused_on_every_path(live_server: LiveServer, registered: Org) -> None:
    token = exchange(live_server, registered.assertion(live_server.token_endpoint)).json()["access_token"]
    with live_server.admin() as admin:
        assert admin.patch(f"/admin/api/v1/orgs/{registered.org_id}", json={"enabled": False}).status_code == 200
    assert exchange(live_server, registered.assertion(live_server.token_endpoint)).json() == {"error": "invalid_grant"}
    with live_server.client() as client:
        assert client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"}).status_code == 401
        direct = registered.assertion(live_server.url)
        assert client.get("/api/v1/me", headers={"authorization": f"Bearer {direct}"}).status_code == 401


def test_certificate_rotation(live_server: LiveServer, registered: Org, other_rsa_key: rsa.RSAPrivateKey) -> None:
    new = make_org(registered.org_id, other_rsa_key, live_server.clock, cn="rotated")
    with live_server.admin() as admin:
        added = admin.post(
            f"/admin/api/v1/orgs/{registered.org_id}/certificates",
            json={"certificate": new.certificate_pem, "label": "2027"},
        )
        assert added.status_code == 201
        # Both certificates are active during the rotation.
        assert exchange(live_server, registered.assertion(live_server.token_endpoint)).status_code == 200
        assert exchange(live_server, new.assertion(live_server.token_endpoint)).status_code == 200
        old_fingerprint = admin.get(f"/admin/api/v1/orgs/{registered.org_id}").json()["certificates"]
        old = next(c for c in old_fingerprint if c["label"] != "2027")["sha256_fingerprint"]
        retired = admin.patch(f"/admin/api/v1/orgs/{registered.org_id}/certificates/{old}", json={"state": "retired"})
        assert retired.status_code == 200
        assert retired.json()["state"] == "retired"
    assert exchange(live_server, registered.assertion(live_server.token_endpoint)).json() == {"error": "invalid_grant"}
    assert exchange(live_server, new.assertion(live_server.token_endpoint)).status_code == 200


def test_no_credentials_leak_into_the_audit_log(live_server: LiveServer, registered: Org) -> None:
    assertion = registered.assertion(live_server.token_endpoint)
    token = exchange(live_server, assertion).json()["access_token"]
    with live_server.admin() as admin:
        events = admin.get("/admin/api/v1/audit").text
    assert assertion not in events
    assert token not in events
    assert live_server.admin_token not in events
    assert all(part not in events for part in assertion.split("."))


def test_http_errors_are_json(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        response = client.post("/oauth2/token", content=b"", headers={"content-type": "text/plain"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
