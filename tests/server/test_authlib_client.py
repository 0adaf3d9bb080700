"""An independent RFC 7523 client against the token endpoint: Authlib's ``AssertionClient`` (httpx).

Authlib signs the assertion itself (joserfc underneath) from the org's private key, with its own
choice of claims (``iat``, a random ``jti``), and attaches the access token it gets to API calls.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import authlib.deprecate  # first: on import it makes its warnings "always" shown
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from server.live import OTHER_ORG_ID, USER_ID, LiveServer, Org

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 package and warns on import when it falls back to httpx.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AssertionClient, OAuthError

USERNAME = "integration@acme.example"


def _signing_key(key: rsa.RSAPrivateKey) -> RSAKey:
    """The org's private key as a joserfc key (what Authlib 1.x signs with; PEM bytes are deprecated there)."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return RSAKey.import_key(pem)


@pytest.fixture
def authlib_client(live_server: LiveServer, registered: Org, rsa_key: rsa.RSAPrivateKey) -> Iterator[Any]:
    client = AssertionClient(
        token_endpoint=live_server.token_endpoint,
        issuer=registered.org_id,
        subject=USERNAME,
        audience=live_server.token_endpoint,
        claims={"user_id": USER_ID, "params": {"region": "NA"}},
        scope="orders:read",
        key=_signing_key(rsa_key),
        alg="RS256",
        expires_in=120,
        timeout=10,
    )
    try:
        yield client
    finally:
        client.close()


def test_authlib_fetches_a_token_and_calls_the_api(
    live_server: LiveServer, registered: Org, authlib_client: Any
) -> None:
    me = authlib_client.get(live_server.url + "/api/v1/me")
    assert me.status_code == 200, me.text
    token = authlib_client.token
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "orders:read"
    assert token["expires_in"] == live_server.settings.token_lifetime
    assert me.request.headers["authorization"] == f"Bearer {token['access_token']}"
    identity = me.json()
    assert identity["source"] == "jwt-bearer"
    assert identity["org_id"] == registered.org_id
    assert identity["issuer"] == registered.org_id
    assert identity["user_id"] == USER_ID
    assert identity["username"] == USERNAME
    assert identity["parameters"] == {"region": "NA"}
    assert identity["scopes"] == ["orders:read"]
    # The token is reused for the next call (no second exchange).
    again = authlib_client.get(live_server.url + "/api/v1/me")
    assert again.status_code == 200
    assert authlib_client.token["access_token"] == token["access_token"]


def test_authlib_reusing_a_jti_is_a_replay(live_server: LiveServer, authlib_client: Any) -> None:
    first = authlib_client.refresh_token()
    # Authlib writes the jti it generates into the claims dict it was given, so every later
    # assertion of this client carries the same jti: the service refuses those as replays.
    assert "jti" in authlib_client.claims
    with pytest.raises(OAuthError) as caught:
        authlib_client.refresh_token()
    assert caught.value.error == "invalid_grant"
    with live_server.admin() as admin:
        assert admin.get("/admin/api/v1/audit", params={"limit": 1}).json()[0]["code"] == "assertion_replayed"
    # A fresh jti is a fresh assertion.
    del authlib_client.claims["jti"]
    second = authlib_client.refresh_token()
    assert second["access_token"] != first["access_token"]


def test_authlib_default_lifetime_is_refused(
    live_server: LiveServer, registered: Org, rsa_key: rsa.RSAPrivateKey
) -> None:
    # Authlib's default assertion lives an hour: longer than the service accepts (the lifetime cap
    # Authlib's own server side does not have).
    with (
        AssertionClient(
            token_endpoint=live_server.token_endpoint,
            issuer=registered.org_id,
            subject=USERNAME,
            key=_signing_key(rsa_key),
            alg="RS256",
            timeout=10,
        ) as client,
        pytest.raises(OAuthError) as caught,
    ):
        client.refresh_token()
    assert caught.value.error == "invalid_grant"


def test_authlib_unknown_issuer_is_refused(
    live_server: LiveServer, registered: Org, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    with (
        AssertionClient(
            token_endpoint=live_server.token_endpoint,
            issuer=OTHER_ORG_ID,
            subject=USERNAME,
            key=_signing_key(other_rsa_key),
            alg="RS256",
            expires_in=120,
            timeout=10,
        ) as client,
        pytest.raises(OAuthError) as caught,
    ):
        client.get(live_server.url + "/api/v1/me")
    assert caught.value.error == "invalid_grant"
