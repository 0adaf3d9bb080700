"""``GET /api/v1/me`` over real HTTP: access tokens, Apex JWTs sent directly, and what is refused."""

from __future__ import annotations

import base64
import json
import sqlite3

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.core import access_token as access_token_module
from server.live import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    OTHER_ORG_ID,
    RECORD_ID,
    USER_ID,
    USERNAME,
    LiveServer,
    Org,
    exchange,
    make_org,
)

CHALLENGE = 'Bearer realm="forcegate", error="invalid_token"'


def _me(server: LiveServer, token: str | None = None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    with server.client() as client:
        return client.get("/api/v1/me", headers=headers)


def _access_token(server: LiveServer, org: Org, **extra: str) -> str:
    response = exchange(server, org.assertion(server.token_endpoint), **extra)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.json()["error"] == "invalid_token"
    assert response.headers["cache-control"] == "no-store"


# --- access tokens -----------------------------------------------------------------------------------


def test_access_token_gives_the_jwt_bearer_identity(live_server: LiveServer, registered: Org) -> None:
    token = _access_token(live_server, registered)
    response = _me(live_server, token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "source": "jwt-bearer",
        "org_id": registered.org_id,
        "user_id": USER_ID,
        "username": USERNAME,
        "instance_url": "https://example.my.salesforce.com",
        "record_id": RECORD_ID,
        "parameters": {"region": "EMEA", "tier": 2},
        "scopes": ["api", "orders:read"],
        "issuer": registered.org_id,
        "expires_at": live_server.clock.now() + live_server.settings.token_lifetime,
    }
    # Reusable until it expires (unlike an assertion).
    assert _me(live_server, token).status_code == 200


def test_access_token_with_a_narrowed_scope(live_server: LiveServer, registered: Org) -> None:
    token = _access_token(live_server, registered, scope="api")
    assert _me(live_server, token).json()["scopes"] == ["api"]


def test_tampered_access_token_is_refused(live_server: LiveServer, registered: Org) -> None:
    token = _access_token(live_server, registered)
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["org_id"] = OTHER_ORG_ID
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _assert_invalid_token(_me(live_server, f"{head}.{forged_payload}.{signature}"))
    # A flipped signature character, and a truncated token.
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    _assert_invalid_token(_me(live_server, f"{head}.{payload}.{flipped}"))
    _assert_invalid_token(_me(live_server, f"{head}.{payload}"))
    # The genuine token still works: refusing the forgeries did not poison anything.
    assert _me(live_server, token).status_code == 200


def test_an_uncached_token_is_checked_by_its_record_without_public_key_cryptography(
    live_server: LiveServer, registered: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decision 0025: the revocation lookup reads the record MAC too, and a match needs no signature check.
    token = _access_token(live_server, registered)
    other = _access_token(live_server, registered)

    def no_signature_check(*_: object) -> bytes:
        raise AssertionError("the service checked a signature")

    class NoVerify:
        verify = staticmethod(no_signature_check)

    monkeypatch.setattr(access_token_module, "_es256", no_signature_check)
    monkeypatch.setattr(access_token_module, "_ES256", NoVerify())
    assert _me(live_server, token).status_code == 200
    # A record whose MAC is not the token's (the database altered): refused, not signature-checked.
    database = live_server.settings.data_dir / "forcegate.db"
    jti = json.loads(base64.urlsafe_b64decode(other.split(".")[1] + "==="))["jti"]
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE issued_tokens SET mac = 'x' WHERE jti = ?", (jti,))
    _assert_invalid_token(_me(live_server, other))


def test_expired_access_token_is_refused(live_server: LiveServer, registered: Org) -> None:
    token = _access_token(live_server, registered)
    assert _me(live_server, token).status_code == 200  # now in the verified-token cache
    live_server.clock.advance(live_server.settings.token_lifetime + live_server.settings.leeway - 1)
    assert _me(live_server, token).status_code == 200  # within the leeway
    live_server.clock.advance(2)
    _assert_invalid_token(_me(live_server, token))


def test_access_token_of_a_removed_org_is_refused(live_server: LiveServer, registered: Org) -> None:
    token = _access_token(live_server, registered)
    with live_server.admin() as admin:
        assert admin.delete(f"/admin/api/v1/orgs/{registered.org_id}").status_code == 204
    _assert_invalid_token(_me(live_server, token))


# --- Apex JWT sent directly ------------------------------------------------------------------------


def test_direct_apex_jwt_is_single_use(live_server: LiveServer, registered: Org) -> None:
    jwt = registered.assertion(live_server.url)
    first = _me(live_server, jwt)
    assert first.status_code == 200, first.text
    identity = first.json()
    assert identity["source"] == "jwt"
    assert identity["org_id"] == registered.org_id
    assert identity["user_id"] == USER_ID
    assert identity["username"] == USERNAME
    assert identity["parameters"] == {"region": "EMEA", "tier": 2}
    assert identity["issuer"] == registered.org_id
    _assert_invalid_token(_me(live_server, jwt))
    # A direct JWT may also name the token endpoint as its audience.
    assert _me(live_server, registered.assertion(live_server.token_endpoint)).json()["source"] == "jwt"


def test_direct_jwt_and_token_exchange_share_single_use(live_server: LiveServer, registered: Org) -> None:
    jwt = registered.assertion(live_server.token_endpoint)
    assert _me(live_server, jwt).status_code == 200
    assert exchange(live_server, jwt).json() == {"error": "invalid_grant"}


def test_direct_jwt_refusals(live_server: LiveServer, registered: Org, other_rsa_key: rsa.RSAPrivateKey) -> None:
    _assert_invalid_token(_me(live_server, registered.assertion("https://elsewhere.example.com")))
    expired = registered.assertion(live_server.url, validity=30)
    stranger = make_org(OTHER_ORG_ID, other_rsa_key, live_server.clock)
    _assert_invalid_token(_me(live_server, stranger.assertion(live_server.url)))
    impostor = make_org(registered.org_id, other_rsa_key, live_server.clock)
    _assert_invalid_token(_me(live_server, impostor.assertion(live_server.url)))
    live_server.clock.advance(30 + live_server.settings.leeway + 1)
    _assert_invalid_token(_me(live_server, expired))
    with live_server.admin() as admin:
        codes = {e["code"] for e in admin.get("/admin/api/v1/audit", params={"limit": 20}).json()}
    assert {"invalid_audience", "unknown_issuer", "invalid_signature", "token_expired"} <= codes


def test_a_refused_direct_jwt_does_not_burn_its_single_use(live_server: LiveServer, org: Org) -> None:
    jwt = org.assertion(live_server.url)
    _assert_invalid_token(_me(live_server, jwt))  # the org is not registered yet
    with live_server.admin() as admin:
        assert admin.post("/admin/api/v1/orgs", json={"org_id": org.org_id}).status_code == 201
        added = admin.post(f"/admin/api/v1/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem})
        assert added.status_code == 201
    assert _me(live_server, jwt).status_code == 200


# --- no, or malformed, credentials ------------------------------------------------------------------


def test_no_credentials(live_server: LiveServer) -> None:
    response = _me(live_server)
    assert response.status_code == 401
    # RFC 6750 §3.1: no error code when the request carried no authentication at all.
    assert response.headers["www-authenticate"] == 'Bearer realm="forcegate"'
    assert "error=" not in response.headers["www-authenticate"]
    # An unknown cookie is a credential that fails, not a missing one.
    assert _me(live_server, cookie="other=1").headers["www-authenticate"] == 'Bearer realm="forcegate"'
    unknown_session = _me(live_server, cookie="forcegate_session=not-a-session")
    assert unknown_session.status_code == 401
    assert unknown_session.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize("authorization", ["Bearer", "bearer", "Bearer a b", "Bearer a,b", "Bearer a=b"])
def test_malformed_authorization_header(live_server: LiveServer, authorization: str) -> None:
    response = _me(live_server, authorization=authorization)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["code"] == "malformed_credentials"
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer:abc"])
def test_another_authorization_scheme_is_challenged(live_server: LiveServer, authorization: str) -> None:
    """RFC 7235 §3.1: a scheme the service does not take gets 401 and the challenge of the one it does."""
    response = _me(live_server, authorization=authorization)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="forcegate", error="invalid_token"'


@pytest.mark.parametrize("authorization", ["Bearer", "Basic dXNlcjpwYXNz", "Bearer a b"])
def test_the_same_header_gets_the_same_answer_at_every_endpoint(live_server: LiveServer, authorization: str) -> None:
    """One request layer: /api/v1/me, introspection, revocation and the admin API agree."""
    with live_server.client() as client:
        answers = {
            client.get("/api/v1/me", headers={"authorization": authorization}).status_code,
            client.post(
                "/oauth2/introspect", data={"token": "x"}, headers={"authorization": authorization}
            ).status_code,
            client.post("/oauth2/revoke", data={"token": "x"}, headers={"authorization": authorization}).status_code,
            client.get("/admin/api/v1/orgs", headers={"authorization": authorization}).status_code,
        }
    assert answers == ({401} if authorization.startswith("Basic") else {400})


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "a.b", "x" * 20000, "e30.e30.e30"])
def test_garbage_bearer_tokens(live_server: LiveServer, token: str) -> None:
    _assert_invalid_token(_me(live_server, token))


def test_scheme_is_case_insensitive(live_server: LiveServer, registered: Org) -> None:
    token = _access_token(live_server, registered)
    assert _me(live_server, authorization=f"bEaReR {token}").status_code == 200


def test_post_is_405(live_server: LiveServer, registered: Org) -> None:
    token = _access_token(live_server, registered)
    with live_server.client() as client:
        response = client.post("/api/v1/me", headers={"authorization": f"Bearer {token}"})
        head = client.head("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200


# --- consumer key as issuer --------------------------------------------------------------------------


@pytest.fixture
def consumer_key_org(live_server: LiveServer, org: Org) -> Org:
    """An app registered under ``CONSUMER_KEY``, and ``org`` accepting assertions issued under it."""
    with live_server.admin() as admin:
        app = admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
        assert app.status_code == 201, app.text
        added = admin.post(
            "/admin/api/v1/orgs", json={"org_id": org.org_id, "issuers": [CONSUMER_KEY], "scopes": ["api"]}
        )
        assert added.status_code == 201, added.text
        cert = admin.post(f"/admin/api/v1/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem})
        assert cert.status_code == 201, cert.text
    return org


def test_consumer_key_issuer_names_the_org(live_server: LiveServer, consumer_key_org: Org) -> None:
    org = consumer_key_org
    claims = {"org_id": org.org_id, "user_id": USER_ID}
    direct = _me(live_server, org.assertion(live_server.url, iss=CONSUMER_KEY, claims=claims))
    assert direct.status_code == 200, direct.text
    assert direct.json()["org_id"] == org.org_id
    assert direct.json()["issuer"] == CONSUMER_KEY
    # The same through the token endpoint: the access token's client is the consumer key.
    granted = exchange(live_server, org.assertion(live_server.token_endpoint, iss=CONSUMER_KEY, claims=claims))
    assert granted.status_code == 200, granted.text
    identity = _me(live_server, granted.json()["access_token"]).json()
    assert (identity["source"], identity["org_id"], identity["issuer"]) == ("jwt-bearer", org.org_id, CONSUMER_KEY)
    # This org lists only the consumer key: its own id is no longer an accepted issuer.
    _assert_invalid_token(_me(live_server, org.assertion(live_server.url)))


def test_consumer_key_issuer_without_org_id_is_refused(live_server: LiveServer, consumer_key_org: Org) -> None:
    jwt = consumer_key_org.assertion(live_server.url, iss=CONSUMER_KEY, claims={"user_id": USER_ID})
    _assert_invalid_token(_me(live_server, jwt))
    assertion = consumer_key_org.assertion(live_server.token_endpoint, iss=CONSUMER_KEY, claims={"user_id": USER_ID})
    assert exchange(live_server, assertion).json() == {"error": "invalid_grant"}


def test_consumer_key_not_listed_by_the_org_is_refused(
    live_server: LiveServer, consumer_key_org: Org, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    other = make_org(OTHER_ORG_ID, other_rsa_key, live_server.clock, cn="other")
    with live_server.admin() as admin:
        assert admin.post("/admin/api/v1/orgs", json={"org_id": other.org_id}).status_code == 201
        cert = admin.post(
            f"/admin/api/v1/orgs/{other.org_id}/certificates", json={"certificate": other.certificate_pem}
        )
        assert cert.status_code == 201
    claims = {"org_id": other.org_id}
    _assert_invalid_token(_me(live_server, other.assertion(live_server.url, iss=CONSUMER_KEY, claims=claims)))
    # An unregistered consumer key is an unknown issuer, org_id or not.
    unknown = other.assertion(live_server.url, iss="3MVG9_not_registered", claims=claims)
    _assert_invalid_token(_me(live_server, unknown))
    # And the other org still works under its own id.
    assert _me(live_server, other.assertion(live_server.url)).status_code == 200
    with live_server.admin() as admin:
        codes = {e["code"] for e in admin.get("/admin/api/v1/audit", params={"limit": 10}).json()}
    assert {"issuer_not_allowed", "unknown_issuer"} <= codes
