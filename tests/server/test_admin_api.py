"""The admin API under ``/admin/api/v1`` over real HTTP: authentication, CRUD, validation, audit, secrets."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.routing import Route

from forcegate.core.ids import to15
from server.live import CONSUMER_KEY, ORG_ID, OTHER_ORG_ID, LiveServer, Org, exchange, make_org

PREFIX = "/admin/api/v1"
SECRET = "admin-api-consumer-secret-xyz"


class Recorder:
    """An admin client that keeps the text of every response, to search them all for secrets."""

    def __init__(self, server: LiveServer) -> None:
        self._client = server.admin()
        self.texts: list[str] = []

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._client.request(method, PREFIX + path, **kwargs)
        self.texts.append(response.text + str(response.headers))
        return response

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def admin(live_server: LiveServer) -> Iterator[Recorder]:
    recorder = Recorder(live_server)
    try:
        yield recorder
    finally:
        recorder.close()


def _admin_routes(server: LiveServer) -> list[tuple[str, str]]:
    starlette = server.app._starlette
    assert starlette is not None
    found = []
    for route in starlette.routes:
        if isinstance(route, Route) and route.path.startswith(PREFIX):
            found += [(method, route.path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


def test_every_admin_route_needs_the_admin_token(live_server: LiveServer, registered: Org) -> None:
    routes = _admin_routes(live_server)
    assert len(routes) >= 14
    values = {
        "consumer_key": CONSUMER_KEY,
        "org_id": registered.org_id,
        "fingerprint": "0" * 64,
        "enrollment_id": "enr_" + "a" * 20,
    }
    token = exchange(live_server, registered.assertion(live_server.token_endpoint)).json()["access_token"]
    with live_server.client() as client:
        for method, template in routes:
            path = template.format(**values)
            body: dict[str, Any] | None = {} if method in ("POST", "PATCH") else None
            for headers in ({}, {"authorization": "Bearer wrong-token"}, {"authorization": "Basic eDp5"}):
                response = client.request(method, path, headers=headers, json=body)
                assert response.status_code == 401, (method, path, headers, response.status_code)
                assert response.json()["error"] == "invalid_token"
                assert response.headers["www-authenticate"].startswith('Bearer realm="forcegate"')
            # An access token is no admin credential either.
            response = client.request(method, path, headers={"authorization": f"Bearer {token}"}, json=body)
            assert response.status_code == 401, (method, path)
    # Nothing was changed by the refused calls.
    with live_server.admin() as good:
        assert good.get(f"{PREFIX}/orgs/{registered.org_id}").status_code == 200
        assert good.get(f"{PREFIX}/apps").json() == []


def test_orgs_crud(admin: Recorder) -> None:
    created = admin.request("POST", "/orgs", json={"org_id": to15(ORG_ID), "name": "Acme", "scopes": ["api"]})
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["org_id"] == ORG_ID  # stored in 18-character form
    assert (org["name"], org["enabled"], org["scopes"], org["issuers"], org["subjects"]) == (
        "Acme",
        True,
        ["api"],
        [ORG_ID],
        None,
    )
    assert admin.request("POST", "/orgs", json={"org_id": OTHER_ORG_ID, "enabled": False}).status_code == 201
    listed = admin.request("GET", "/orgs").json()
    assert [o["org_id"] for o in listed] == sorted([ORG_ID, OTHER_ORG_ID])
    page = admin.request("GET", "/orgs", params={"limit": 1, "after": listed[0]["org_id"]}).json()
    assert [o["org_id"] for o in page] == [listed[1]["org_id"]]

    shown = admin.request("GET", f"/orgs/{to15(ORG_ID)}").json()
    assert shown["org_id"] == ORG_ID
    assert shown["certificates"] == []

    patch = {
        "name": "Acme Corp",
        "scopes": ["api", "orders:read"],
        "subjects": ["ada@example.com"],
        "issuers": [ORG_ID, CONSUMER_KEY],
        "max_assertion_lifetime": 120,
        "token_lifetime": 900,
    }
    updated = admin.request("PATCH", f"/orgs/{ORG_ID}", json=patch)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["name"] == "Acme Corp"
    assert body["scopes"] == ["api", "orders:read"]
    assert body["subjects"] == ["ada@example.com"]
    assert body["issuers"] == sorted([ORG_ID, CONSUMER_KEY])
    assert (body["max_assertion_lifetime"], body["token_lifetime"]) == (120, 900)
    # A partial update keeps the other fields; null subjects means any subject again.
    partial = admin.request("PATCH", f"/orgs/{ORG_ID}", json={"token_lifetime": 60, "subjects": None}).json()
    assert (partial["name"], partial["max_assertion_lifetime"], partial["token_lifetime"]) == ("Acme Corp", 120, 60)
    assert partial["subjects"] is None

    assert admin.request("DELETE", f"/orgs/{ORG_ID}").status_code == 204
    assert admin.request("GET", f"/orgs/{ORG_ID}").status_code == 404
    assert admin.request("DELETE", f"/orgs/{ORG_ID}").status_code == 404
    assert admin.request("PATCH", f"/orgs/{ORG_ID}", json={"name": "x"}).status_code == 404
    assert admin.request("PATCH", f"/orgs/{ORG_ID}", json={"token_lifetime": 5}).status_code == 404


def test_apps_crud_and_secrets_never_returned(admin: Recorder) -> None:
    created = admin.request(
        "POST", "/apps", json={"consumer_key": CONSUMER_KEY, "name": "Orders", "secret": SECRET, "any_org": True}
    )
    assert created.status_code == 201, created.text
    app = created.json()
    assert (app["consumer_key"], app["name"], app["any_org"]) == (CONSUMER_KEY, "Orders", True)
    assert len(app["active_secrets"]) == 1
    assert set(app["active_secrets"][0]) == {"id", "created_at"}
    again = admin.request("POST", "/apps", json={"consumer_key": CONSUMER_KEY, "secret": SECRET + "-again"})
    assert again.status_code == 409
    assert again.json()["code"] == "already_exists"
    rotated = admin.request("POST", f"/apps/{CONSUMER_KEY}/secrets", json={"secret": SECRET + "-2"})
    assert rotated.status_code == 201
    assert set(rotated.json()) == {"id", "created_at"}
    assert admin.request("POST", "/apps/3MVG9_nope/secrets", json={"secret": SECRET + "-3"}).status_code == 404
    assert [a["consumer_key"] for a in admin.request("GET", "/apps").json()] == [CONSUMER_KEY]
    assert len(admin.request("GET", f"/apps/{CONSUMER_KEY}").json()["active_secrets"]) == 2
    assert admin.request("DELETE", f"/apps/{CONSUMER_KEY}").status_code == 204
    assert admin.request("GET", f"/apps/{CONSUMER_KEY}").status_code == 404
    assert admin.request("DELETE", f"/apps/{CONSUMER_KEY}").status_code == 404
    assert admin.request("GET", "/apps").json() == []
    # Every response of the test, headers included: the secrets never came back.
    everything = "\n".join(admin.texts)
    assert SECRET not in everything
    assert SECRET + "-2" not in everything


def test_certificates(admin: Recorder, org: Org, other_rsa_key: rsa.RSAPrivateKey) -> None:
    assert admin.request("POST", "/orgs", json={"org_id": org.org_id}).status_code == 201
    pem = admin.request("POST", f"/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem})
    assert pem.status_code == 201, pem.text
    first = pem.json()
    assert first["state"] == "active"
    assert re.fullmatch(r"[0-9a-f]{64}", first["sha256_fingerprint"])
    assert (
        admin.request("POST", f"/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem}).status_code
        == 409
    )

    # Bare base64 DER, as ConnectedApp metadata holds oauthConfig/certificate.
    other = make_org(org.org_id, other_rsa_key, org.clock, cn="second")
    der = base64.b64encode(other.certificate.public_bytes(serialization.Encoding.DER)).decode()
    bare = admin.request("POST", f"/orgs/{org.org_id}/certificates", json={"certificate": der, "label": "2027"})
    assert bare.status_code == 201, bare.text
    second = bare.json()
    assert second["label"] == "2027"

    listed = admin.request("GET", f"/orgs/{org.org_id}/certificates").json()
    assert {c["sha256_fingerprint"] for c in listed} == {first["sha256_fingerprint"], second["sha256_fingerprint"]}
    prefix = first["sha256_fingerprint"][:8]
    retired = admin.request("PATCH", f"/orgs/{org.org_id}/certificates/{prefix}", json={"state": "retired"})
    assert retired.status_code == 200, retired.text
    assert retired.json()["state"] == "retired"
    shown = {
        c["sha256_fingerprint"]: c["state"] for c in admin.request("GET", f"/orgs/{org.org_id}").json()["certificates"]
    }
    assert shown == {first["sha256_fingerprint"]: "retired", second["sha256_fingerprint"]: "active"}
    colons = ":".join(re.findall("..", first["sha256_fingerprint"][:16])).upper()
    activated = admin.request("PATCH", f"/orgs/{org.org_id}/certificates/{colons}", json={"state": "active"})
    assert activated.status_code == 200, activated.text
    assert activated.json()["state"] == "active"

    path = f"/orgs/{org.org_id}/certificates"
    assert admin.request("PATCH", f"{path}/{'f' * 64}", json={"state": "retired"}).status_code == 404
    for fingerprint in ("abc", "zzzzzzzzzz"):
        response = admin.request("PATCH", f"{path}/{fingerprint}", json={"state": "retired"})
        assert response.status_code == 400, (fingerprint, response.text)
    assert admin.request("PATCH", f"{path}/{prefix}", json={"state": "revoked"}).status_code == 400
    private = org.certificate_pem + "\nnot a certificate"
    for text in ("", "not a certificate", base64.b64encode(b"junk").decode(), private + org.certificate_pem):
        response = admin.request("POST", path, json={"certificate": text})
        assert response.status_code in (400, 409), (text[:20], response.text)
        assert response.json()["error_description"]
    unknown = f"/orgs/{OTHER_ORG_ID}/certificates"
    assert admin.request("POST", unknown, json={"certificate": org.certificate_pem}).status_code == 404
    assert admin.request("GET", unknown).status_code == 404


INVALID: list[tuple[str, str, dict[str, Any] | bytes | None]] = [
    ("POST", "/orgs", b"{not json"),
    ("POST", "/orgs", b"[]"),
    ("POST", "/orgs", b""),
    ("POST", "/orgs", {"name": "no id"}),
    ("POST", "/orgs", {"org_id": "not-an-org-id"}),
    ("POST", "/orgs", {"org_id": "0015g00000XyZabAAF"}),  # an Account id
    ("POST", "/orgs", {"org_id": 42}),
    ("POST", "/orgs", {"org_id": ORG_ID, "color": "blue"}),
    ("POST", "/orgs", {"org_id": ORG_ID, "enabled": "yes"}),
    ("POST", "/orgs", {"org_id": ORG_ID, "scopes": "api"}),
    ("POST", "/orgs", {"org_id": ORG_ID, "scopes": ["two words"]}),
    ("POST", "/orgs", {"org_id": ORG_ID, "scopes": [""]}),
    ("POST", "/orgs", {"org_id": ORG_ID, "issuers": [1]}),
    ("POST", "/orgs", {"org_id": ORG_ID, "subjects": []}),  # would refuse every subject: null means any
    ("PATCH", f"/orgs/{ORG_ID}", {"subjects": []}),
    ("POST", "/orgs", {"org_id": ORG_ID, "token_lifetime": -1}),
    ("POST", "/orgs", {"org_id": ORG_ID, "token_lifetime": True}),
    ("POST", "/orgs", {"org_id": ORG_ID, "max_assertion_lifetime": 1.5}),
    ("POST", "/orgs", {"org_id": ORG_ID, "name": "x" * 1000}),
    ("PATCH", f"/orgs/{ORG_ID}", {"org_id": OTHER_ORG_ID}),
    ("PATCH", f"/orgs/{ORG_ID}", {"enabled": None}),
    ("PATCH", f"/orgs/{ORG_ID}", {"scopes": ["a b"]}),
    ("PATCH", f"/orgs/{ORG_ID}", {}),  # nothing to change
    ("PATCH", f"/orgs/{ORG_ID}", {"name": None}),
    ("PATCH", f"/orgs/{ORG_ID}", {"algorithms": ["HS256"]}),
    ("PATCH", f"/orgs/{ORG_ID}", {"algorithms": []}),
    ("POST", "/orgs", {"org_id": ORG_ID, "algorithms": ["none"]}),
    ("POST", "/orgs", {"org_id": ORG_ID, "name": "evil\u202egnp.exe"}),
    ("PATCH", "/orgs/not-an-id", {"name": "x"}),
    ("GET", "/orgs/not-an-id", None),
    ("DELETE", "/orgs/not-an-id", None),
    ("GET", "/orgs?limit=abc", None),
    ("POST", "/apps", {"consumer_key": "has space", "secret": SECRET}),
    ("POST", "/apps", {"consumer_key": "", "secret": SECRET}),
    ("POST", "/apps", {"consumer_key": CONSUMER_KEY}),
    ("POST", "/apps", {"consumer_key": CONSUMER_KEY, "secret": ""}),
    ("POST", "/apps", {"consumer_key": CONSUMER_KEY, "secret": 123}),
    ("POST", "/apps", {"consumer_key": CONSUMER_KEY, "secret": SECRET, "any_org": "true"}),
    ("POST", "/apps", {"consumer_key": CONSUMER_KEY, "secret": SECRET, "extra": 1}),
    ("POST", f"/apps/{CONSUMER_KEY}/secrets", {"secret": SECRET, "keep_previous": -1}),
    ("POST", f"/apps/{CONSUMER_KEY}/secrets", {"secret": SECRET, "keep_previous": "1"}),
    ("POST", f"/apps/{CONSUMER_KEY}/secrets", {"secret": ""}),
    ("GET", "/audit?limit=x", None),
    ("GET", "/audit?before=x", None),
    ("GET", "/audit?org=not-an-org", None),
]


def test_validation_errors_are_400(live_server: LiveServer, registered: Org) -> None:
    wrong: list[tuple[str, str, int, str]] = []
    with live_server.admin() as admin:
        assert admin.post(f"{PREFIX}/apps", json={"consumer_key": CONSUMER_KEY, "secret": SECRET}).status_code == 201
        for method, path, body in INVALID:
            if isinstance(body, bytes):
                headers = {"content-type": "application/json"}
                response = admin.request(method, PREFIX + path, content=body, headers=headers)
            else:
                response = admin.request(method, PREFIX + path, json=body)
            error = response.json()
            described = isinstance(error, dict) and bool(error.get("error")) and bool(error.get("error_description"))
            if response.status_code != 400 or not described or response.headers["cache-control"] != "no-store":
                wrong.append((method, path, response.status_code, response.text))
        # Nothing was written by the refused requests.
        assert [o["org_id"] for o in admin.get(f"{PREFIX}/orgs").json()] == [registered.org_id]
        assert len(admin.get(f"{PREFIX}/apps/{CONSUMER_KEY}").json()["active_secrets"]) == 1
    assert wrong == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/orgs", {"org_id": OTHER_ORG_ID, "token_lifetime": 2**63}),
        ("PATCH", f"/orgs/{ORG_ID}", {"max_assertion_lifetime": 2**63}),
        ("POST", f"/apps/{CONSUMER_KEY}/secrets", {"secret": SECRET + "-1", "keep_previous": 2**63 - 1}),
        ("GET", f"/audit?before={2**63}", None),
        ("GET", f"/audit?before={-(2**63) - 1}", None),
    ],
)
def test_integers_sqlite_cannot_hold_are_400_not_500(
    live_server: LiveServer, registered: Org, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """These were bound to SQLite as sent, and its OverflowError was a 500 (JSON numbers reach 2**64 - 1)."""
    with live_server.admin() as admin:
        assert admin.post(f"{PREFIX}/apps", json={"consumer_key": CONSUMER_KEY, "secret": SECRET}).status_code == 201
        response = admin.request(method, PREFIX + path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert re.search("out of range|must be from", response.json()["error_description"])


def test_duplicates_and_unknowns(admin: Recorder) -> None:
    assert admin.request("POST", "/orgs", json={"org_id": ORG_ID}).status_code == 201
    duplicate = admin.request("POST", "/orgs", json={"org_id": to15(ORG_ID)})
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "already_exists"
    missing = admin.request("GET", f"/orgs/{OTHER_ORG_ID}").json()
    assert (missing["error"], missing["code"]) == ("invalid_request", "not_found")
    assert admin.request("GET", "/nothing-here").status_code in (401, 404)


def test_audit_listing_and_paging(live_server: LiveServer, registered: Org, other_rsa_key: rsa.RSAPrivateKey) -> None:
    for _ in range(3):
        assert exchange(live_server, registered.assertion(live_server.token_endpoint)).status_code == 200
    stranger = make_org(OTHER_ORG_ID, other_rsa_key, live_server.clock)
    assert exchange(live_server, stranger.assertion(live_server.token_endpoint)).status_code == 400
    with live_server.admin() as admin:
        everything = admin.get(f"{PREFIX}/audit").json()
        ids = [e["id"] for e in everything]
        assert ids == sorted(ids, reverse=True)  # newest first
        assert everything[0]["result"] == "denied"
        ours = admin.get(f"{PREFIX}/audit", params={"org": registered.org_id}).json()
        assert len(ours) == 3
        assert all(e["org_id"] == registered.org_id and e["result"] == "allowed" for e in ours)
        assert {e["endpoint"] for e in ours} == {"/oauth2/token"}
        # The 15-character form of the org id names the same org.
        assert admin.get(f"{PREFIX}/audit", params={"org": to15(registered.org_id)}).json() == ours
        first = admin.get(f"{PREFIX}/audit", params={"org": registered.org_id, "limit": 2}).json()
        assert [e["id"] for e in first] == [e["id"] for e in ours[:2]]
        rest = admin.get(f"{PREFIX}/audit", params={"org": registered.org_id, "before": first[-1]["id"]}).json()
        assert [e["id"] for e in rest] == [ours[2]["id"]]
        assert admin.get(f"{PREFIX}/audit", params={"before": min(ids)}).json() == []
        assert len(admin.get(f"{PREFIX}/audit", params={"limit": 0}).json()) == 1


def test_registry_changes_apply_on_the_next_request(live_server: LiveServer, org: Org) -> None:
    assertion = org.assertion(live_server.token_endpoint)
    assert exchange(live_server, assertion).json() == {"error": "invalid_grant"}  # unknown org
    with live_server.admin() as admin:
        assert admin.post(f"{PREFIX}/orgs", json={"org_id": org.org_id, "scopes": ["api"]}).status_code == 201
        assert exchange(live_server, org.assertion(live_server.token_endpoint)).status_code == 400  # no certificate
        cert = admin.post(f"{PREFIX}/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem})
        assert cert.status_code == 201
        # The first assertion was refused before its single use was claimed: it works now.
        granted = exchange(live_server, assertion)
        assert granted.status_code == 200, granted.text
        assert granted.json()["scope"] == "api"
        assert admin.patch(f"{PREFIX}/orgs/{org.org_id}", json={"scopes": ["api", "x"]}).status_code == 200
        assert exchange(live_server, org.assertion(live_server.token_endpoint)).json()["scope"] == "api x"
        fingerprint = cert.json()["sha256_fingerprint"]
        retire = admin.patch(f"{PREFIX}/orgs/{org.org_id}/certificates/{fingerprint}", json={"state": "retired"})
        assert retire.status_code == 200
        assert exchange(live_server, org.assertion(live_server.token_endpoint)).status_code == 400
        activate = admin.patch(f"{PREFIX}/orgs/{org.org_id}/certificates/{fingerprint}", json={"state": "active"})
        assert activate.status_code == 200
        assert exchange(live_server, org.assertion(live_server.token_endpoint)).status_code == 200
