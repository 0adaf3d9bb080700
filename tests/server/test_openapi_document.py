"""The OpenAPI document itself: valid OpenAPI 3.1, a pure function of the settings, and what the service
really accepts and answers (each response of a real session validates against the documented schema)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric import rsa
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from forcegate.clock import FixedClock
from forcegate.registry.fields import MAX_JSON_INTEGER as MAX_INTEGER
from forcegate.registry.inputs import MAX_ORG_SECONDS
from forcegate.server.endpoints.admin import MAX_PAGE
from forcegate.server.openapi import openapi_document
from forcegate.settings import Settings
from forcegate.stores.values import MAX_KEEP_PREVIOUS, MAX_NAME_LENGTH
from server.live import (
    CONSUMER_KEY,
    ORG_ID,
    OTHER_ORG_ID,
    LiveServer,
    Org,
    exchange,
    make_org,
    register_org,
    start_server,
)

PREFIX = "/admin/api/v1"


@pytest.mark.parametrize("landing", ["/canvas/app", "/app/home"])
def test_the_document_is_valid_openapi_3_1(landing: str) -> None:
    validate(openapi_document(Settings(canvas_landing_path=landing)), cls=OpenAPIV31SpecValidator)


def _containers(value: Any) -> Iterator[Any]:
    if isinstance(value, dict | list):
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from _containers(item)


def test_the_document_is_a_pure_function_of_the_settings() -> None:
    first, second = openapi_document(Settings()), openapi_document(Settings())
    assert first == second
    assert json.loads(json.dumps(first)) == first  # plain JSON: no tuples, no sets, no objects
    # A fresh document each call: changing one (a caller adding a server, say) changes no other.
    assert {id(c) for c in _containers(first)}.isdisjoint(id(c) for c in _containers(second))
    assert openapi_document(Settings(public_url="https://gate.example"))["servers"] == [{"url": "https://gate.example"}]


def test_every_component_schema_is_used() -> None:
    document = openapi_document(Settings())
    text = json.dumps(document["paths"]) + json.dumps(document["components"]["schemas"])
    unused = [name for name in document["components"]["schemas"] if f'"#/components/schemas/{name}"' not in text]
    assert unused == []


def test_admin_request_bodies_say_what_the_admin_api_accepts() -> None:
    schemas = openapi_document(Settings())["components"]["schemas"]
    required = {
        "OrgCreate": ["org_id"],
        "OrgUpdate": None,
        "AppCreate": ["consumer_key", "secret"],
        "SecretCreate": ["secret"],
        "CertificateCreate": ["certificate"],
        "CertificateStateChange": ["state"],
    }
    for name, fields in required.items():
        assert schemas[name]["additionalProperties"] is False, name  # unknown fields are refused
        assert schemas[name].get("required") == fields, name
    org = schemas["OrgCreate"]["properties"]
    assert set(org) == {
        "org_id",
        "name",
        "enabled",
        "issuers",
        "subjects",
        "scopes",
        "algorithms",
        "apps",
        "max_assertion_lifetime",
        "token_lifetime",
    }
    assert set(schemas["OrgUpdate"]["properties"]) == set(org) - {"org_id"}
    for lifetime in ("max_assertion_lifetime", "token_lifetime"):
        assert org[lifetime]["minimum"] == 1
        assert org[lifetime]["maximum"] == MAX_ORG_SECONDS
    assert org["subjects"]["type"] == ["array", "null"]
    assert org["name"]["maxLength"] == MAX_NAME_LENGTH
    assert schemas["SecretCreate"]["properties"]["keep_previous"]["maximum"] == MAX_KEEP_PREVIOUS
    assert schemas["CertificateStateChange"]["properties"]["state"]["enum"] == ["active", "retired"]


def test_listing_parameters() -> None:
    paths = openapi_document(Settings())["paths"]

    def parameters(path: str) -> dict[str, Any]:
        return {p["name"]: p["schema"] for p in paths[PREFIX + path]["get"]["parameters"]}

    orgs, audit = parameters("/orgs"), parameters("/audit")
    assert set(orgs) == {"after", "limit"}
    assert set(audit) == {"org", "limit", "before"}
    assert orgs["limit"] == audit["limit"] == {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100}
    assert audit["before"]["maximum"] == MAX_INTEGER


# --- real responses against the documented ones ------------------------------------------------------


class Conformance:
    """Each response of a real session is documented: its status for its operation, its body's schema."""

    def __init__(self, server: LiveServer) -> None:
        with server.client() as client:
            self.schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
        self.seen: set[tuple[str, str, int]] = set()

    def check(self, method: str, template: str, response: httpx.Response, status: int) -> httpx.Response:
        assert response.status_code == status, (method, template, response.text)
        operation = self.schema[template][method]
        assert str(status) in operation.definition.raw["responses"], (method, template, status)
        operation.validate_response(response)
        self.seen.add((method, template, status))
        return response


@pytest.fixture
def conformance(live_server: LiveServer) -> Conformance:
    return Conformance(live_server)


def test_token_introspection_identity_and_public_documents(
    live_server: LiveServer, registered: Org, conformance: Conformance
) -> None:
    check = conformance.check
    token = check("POST", "/oauth2/token", exchange(live_server, registered.assertion(live_server.token_endpoint)), 200)
    access = token.json()["access_token"]
    check("POST", "/oauth2/token", exchange(live_server, "not-a-jwt"), 400)
    admin = {"authorization": f"Bearer {live_server.admin_token}"}
    with live_server.client() as client:
        check("GET", "/api/v1/me", client.get("/api/v1/me", headers={"authorization": f"Bearer {access}"}), 200)
        check("GET", "/api/v1/me", client.get("/api/v1/me"), 401)
        check("GET", "/api/v1/me", client.get("/api/v1/me", headers={"authorization": "Bearer"}), 400)
        active = client.post("/oauth2/introspect", data={"token": access}, headers=admin)
        assert check("POST", "/oauth2/introspect", active, 200).json()["active"] is True
        inactive = client.post("/oauth2/introspect", data={"token": "x"}, headers=admin)
        assert check("POST", "/oauth2/introspect", inactive, 200).json() == {"active": False}
        check("POST", "/oauth2/introspect", client.post("/oauth2/introspect", data={"token": "x"}), 401)
        check("POST", "/oauth2/introspect", client.post("/oauth2/introspect", data={}, headers=admin), 400)
        check("POST", "/oauth2/revoke", client.post("/oauth2/revoke", data={"token": access}, headers=admin), 200)
        check("POST", "/oauth2/revoke", client.post("/oauth2/revoke", data={"token": access}), 401)
        for path in ("/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/healthz", "/readyz"):
            check("GET", path, client.get(path), 200)
        check("GET", "/openapi.json", client.get("/openapi.json"), 200)


def test_admin_responses(
    live_server: LiveServer, registered: Org, conformance: Conformance, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    check = conformance.check
    org = f"{PREFIX}/orgs/{registered.org_id}"
    other = make_org(OTHER_ORG_ID, other_rsa_key, live_server.clock)
    with live_server.admin() as admin:
        app = {"consumer_key": CONSUMER_KEY, "name": "Canvas", "secret": "openapi-consumer-secret-0", "any_org": True}
        check("POST", f"{PREFIX}/apps", admin.post(f"{PREFIX}/apps", json=app), 201)
        check("POST", f"{PREFIX}/apps", admin.post(f"{PREFIX}/apps", json=app), 409)
        check("POST", f"{PREFIX}/apps", admin.post(f"{PREFIX}/apps", json={**app, "extra": 1}), 400)
        check("GET", f"{PREFIX}/apps", admin.get(f"{PREFIX}/apps"), 200)
        secret = {"secret": "openapi-consumer-secret-1", "keep_previous": 0}
        rotated = admin.post(f"{PREFIX}/apps/{CONSUMER_KEY}/secrets", json=secret)
        check("POST", f"{PREFIX}/apps/{{consumer_key}}/secrets", rotated, 201)
        check("GET", f"{PREFIX}/apps/{{consumer_key}}", admin.get(f"{PREFIX}/apps/{CONSUMER_KEY}"), 200)
        check("DELETE", f"{PREFIX}/apps/{{consumer_key}}", admin.delete(f"{PREFIX}/apps/{CONSUMER_KEY}"), 204)
        check("GET", f"{PREFIX}/apps/{{consumer_key}}", admin.get(f"{PREFIX}/apps/{CONSUMER_KEY}"), 404)

        full = {
            "org_id": OTHER_ORG_ID,
            "name": "Other",
            "enabled": True,
            "issuers": ["3MVG9other"],
            "subjects": ["ada@example.com"],
            "scopes": ["api"],
            "max_assertion_lifetime": MAX_ORG_SECONDS,
            "token_lifetime": 1,
        }
        check("POST", f"{PREFIX}/orgs", admin.post(f"{PREFIX}/orgs", json=full), 201)
        check("GET", f"{PREFIX}/orgs", admin.get(f"{PREFIX}/orgs", params={"limit": 1}), 200)
        check("GET", f"{PREFIX}/orgs", admin.get(f"{PREFIX}/orgs", params={"limit": "x"}), 400)
        changed = admin.patch(f"{org}", json={"subjects": None, "token_lifetime": None, "enabled": False})
        check("PATCH", f"{PREFIX}/orgs/{{org_id}}", changed, 200)
        check("GET", f"{PREFIX}/orgs/{{org_id}}", admin.get(org), 200)
        check("GET", f"{PREFIX}/orgs/{{org_id}}", admin.get(f"{PREFIX}/orgs/bad"), 400)
        check("GET", f"{PREFIX}/orgs/{{org_id}}/certificates", admin.get(f"{org}/certificates"), 200)
        added = admin.post(f"{PREFIX}/orgs/{OTHER_ORG_ID}/certificates", json={"certificate": other.certificate_pem})
        fingerprint = check("POST", f"{PREFIX}/orgs/{{org_id}}/certificates", added, 201).json()["sha256_fingerprint"]
        certificate = f"{PREFIX}/orgs/{{org_id}}/certificates/{{fingerprint}}"
        retired = admin.patch(f"{PREFIX}/orgs/{OTHER_ORG_ID}/certificates/{fingerprint}", json={"state": "retired"})
        assert check("PATCH", certificate, retired, 200).json()["state"] == "retired"
        missing = admin.patch(f"{PREFIX}/orgs/{OTHER_ORG_ID}/certificates/{'0' * 64}", json={"state": "active"})
        check("PATCH", certificate, missing, 404)
        check("GET", f"{PREFIX}/audit", admin.get(f"{PREFIX}/audit", params={"org": registered.org_id}), 200)
        check("GET", f"{PREFIX}/audit", admin.get(f"{PREFIX}/audit", params={"before": "x"}), 400)
        check("DELETE", f"{PREFIX}/orgs/{{org_id}}", admin.delete(f"{PREFIX}/orgs/{OTHER_ORG_ID}"), 204)
        check("DELETE", f"{PREFIX}/orgs/{{org_id}}", admin.delete(f"{PREFIX}/orgs/{OTHER_ORG_ID}"), 404)
    with live_server.client() as anonymous:
        check("GET", f"{PREFIX}/apps", anonymous.get(f"{PREFIX}/apps"), 401)


def test_rate_limited_responses(tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> None:
    server = start_server(tmp_path / "data", clock=clock, token_rate_limit=1)
    try:
        org = make_org(ORG_ID, rsa_key, clock)
        register_org(server.url, server.admin_token, org)
        check = Conformance(server).check
        check("POST", "/oauth2/token", exchange(server, org.assertion(server.token_endpoint)), 200)
        limited = check("POST", "/oauth2/token", exchange(server, org.assertion(server.token_endpoint)), 429)
        assert int(limited.headers["retry-after"]) >= 1
        with server.client() as client:
            direct = client.get("/api/v1/me", headers={"authorization": f"Bearer {org.assertion(server.url)}"})
        assert "retry-after" in check("GET", "/api/v1/me", direct, 429).headers
    finally:
        server.stop()
