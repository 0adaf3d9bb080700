"""JWKS, RFC 8414 metadata, health and readiness, and the OpenAPI document, over real HTTP."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from starlette.routing import Route

from forcegate.clock import FixedClock
from forcegate.errors import StoreUnavailable
from forcegate.stores.bundle import Stores
from server.live import LiveServer, Org, exchange, start_server

HOT_PATHS = {("/oauth2/token", "post"), ("/api/v1/me", "get")}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _token(server: LiveServer, org: Org) -> str:
    response = exchange(server, org.assertion(server.token_endpoint))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_jwks_verifies_issued_tokens(live_server: LiveServer, registered: Org) -> None:
    token = _token(live_server, registered)
    with live_server.client() as client:
        response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "max-age" in response.headers["cache-control"]
    jwks = response.json()
    header = pyjwt.get_unverified_header(token)
    keys = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert len(keys) == 1
    key = keys[0]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key  # the public half only

    # PyJWT, from the published JWK.
    claims = pyjwt.decode(
        token,
        pyjwt.PyJWK(key).key,
        algorithms=["ES256"],
        audience=live_server.url,
        issuer=live_server.url,
        options={"require": ["exp", "iat", "jti", "sub"]},
    )
    assert claims["org_id"] == registered.org_id
    # joserfc, from the whole key set (it picks the key by kid).
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["jti"] == claims["jti"]
    # A token signed by another key does not verify against the published set.
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = pyjwt.encode(dict(claims), other_key, algorithm="ES256", headers={"kid": key["kid"]})
    with pytest.raises(BadSignatureError):
        jose_jwt.decode(forged, KeySet.import_key_set(jwks), algorithms=["ES256"])


def test_authorization_server_metadata(live_server: LiveServer) -> None:
    with live_server.client() as client:
        response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = response.json()
    base = live_server.url
    assert metadata["issuer"] == base  # RFC 8414 §3.3: identical to the URL it was fetched under
    assert metadata["token_endpoint"] == base + "/oauth2/token"
    assert metadata["jwks_uri"] == base + "/.well-known/jwks.json"
    assert metadata["introspection_endpoint"] == base + "/oauth2/introspect"
    assert metadata["revocation_endpoint"] == base + "/oauth2/revoke"
    assert metadata["grant_types_supported"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    with live_server.client() as client:
        # Every endpoint it names is served.
        assert client.get(metadata["jwks_uri"]).status_code == 200
        assert client.get(metadata["service_documentation"]).status_code == 200
        assert client.post(metadata["token_endpoint"], data={}).status_code == 400
        assert client.post(metadata["introspection_endpoint"], data={"token": "x"}).status_code == 401
        assert client.post(metadata["revocation_endpoint"], data={"token": "x"}).status_code == 401


def test_health_and_readiness(live_server: LiveServer) -> None:
    with live_server.client() as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert ready.headers["cache-control"] == "no-store"


def _failing(result: Mapping[str, str] | Exception) -> Any:
    def wrap(stores: Stores) -> Stores:
        async def check() -> Mapping[str, str]:
            if isinstance(result, Exception):
                raise result
            return {**(await stores.check()), **result}

        return dataclasses.replace(stores, check=check)

    return wrap


def test_readiness_reports_a_failing_store(tmp_path: Path, clock: FixedClock) -> None:
    server = start_server(tmp_path / "data", clock=clock, wrap_stores=_failing({"replay": "connection refused"}))
    try:
        with server.client() as client:
            ready = client.get("/readyz")
            health = client.get("/healthz")
    finally:
        server.stop()
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "ok", "replay": "connection refused"}}
    assert health.status_code == 200  # alive, just not ready


def test_readiness_when_the_check_itself_fails(tmp_path: Path, clock: FixedClock) -> None:
    server = start_server(tmp_path / "data", clock=clock, wrap_stores=_failing(StoreUnavailable("no route to host")))
    try:
        with server.client() as client:
            ready = client.get("/readyz")
    finally:
        server.stop()
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"


# --- OpenAPI -----------------------------------------------------------------------------------------


def _served(server: LiveServer) -> set[tuple[str, str]]:
    starlette = server.app._starlette
    assert starlette is not None
    served = set(HOT_PATHS)
    for route in starlette.routes:
        assert isinstance(route, Route), route
        served |= {(route.path, method.lower()) for method in route.methods or () if method != "HEAD"}
    return served


def test_openapi_documents_exactly_what_is_served(live_server: LiveServer) -> None:
    with live_server.client() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    documented = {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}
    served = _served(live_server)
    assert documented - served == set(), "documented but not served"
    assert served - documented == set(), "served but not documented"
    # And the hot paths really answer those methods (they are not Starlette routes).
    with live_server.client() as client:
        assert client.get("/api/v1/me").status_code == 401
        assert client.post("/oauth2/token", data={}).status_code == 400


def test_openapi_is_3_1_shaped(live_server: LiveServer) -> None:
    with live_server.client() as client:
        document = client.get("/openapi.json").json()
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert document["servers"] == [{"url": live_server.url}]
    schemes = document["components"]["securitySchemes"]
    for path, item in document["paths"].items():
        assert path.startswith("/")
        templated = set(re.findall(r"{([^}]+)}", path))
        assert set(item) - METHODS <= {"parameters", "summary", "description", "servers"}, path
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            responses = operation["responses"]
            assert responses, where
            for status, described in responses.items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", status), where
                assert described.get("description"), (where, status)
            # §4.8.9.1 (3.1): every template expression is a required path parameter, and vice versa.
            parameters = operation.get("parameters", []) + item.get("parameters", [])
            in_path = {p["name"] for p in parameters if p["in"] == "path"}
            assert in_path == templated, where
            assert all(p["required"] is True for p in parameters if p["in"] == "path"), where
            for requirement in operation.get("security", []):
                assert set(requirement) <= set(schemes), where
            body = operation.get("requestBody")
            if body is not None:
                assert body["content"], where
