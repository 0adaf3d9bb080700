"""A request to the shared /canvas is checked against a bounded number of consumer secrets.

Regression of the penetration test's finding 4 (MEDIUM): a junk ``signed_request`` was checked
against every registered secret, so its cost grew with the registry (126 ms with 510 apps). Now
at most ``canvas_max_secrets`` are tried: the app the envelope names by its Canvas developer name,
or the apps without one; the per-app URL tries that app's only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from server.live import ORG_ID, USER_ID, LiveServer, start_server

PREFIX = "/admin/api/v1"
APPS = {  # consumer key: (secret, Canvas developer name)
    "ck_orders": ("orders-consumer-secret-0001", "acme__Orders"),
    "ck_billing": ("billing-consumer-secret-001", "Billing"),
    "ck_legacy": ("legacy-consumer-secret-0001", None),
}


def _admin(server: LiveServer, method: str, path: str, **body: Any) -> httpx.Response:
    with server.admin() as admin:
        return admin.request(method, PREFIX + path, json=body or None)


@pytest.fixture
def server(tmp_path: Path, clock: FixedClock) -> Iterator[LiveServer]:
    live = start_server(tmp_path / "data", clock=clock, canvas_max_secrets=2)
    try:
        for key, (secret, name) in APPS.items():
            assert _admin(live, "POST", "/apps", consumer_key=key, secret=secret, canvas_name=name).status_code == 201
        assert _admin(live, "POST", "/orgs", org_id=ORG_ID, apps=list(APPS)).status_code == 201
        yield live
    finally:
        live.stop()


def _signed(secret: str, *, developer_name: str, namespace: str | None = None) -> str:
    envelope = build_envelope(org_id=ORG_ID, user_id=USER_ID, developer_name=developer_name, namespace_prefix=namespace)
    return sign_envelope(envelope, secret)


def _post(server: LiveServer, signed_request: str, path: str = "/canvas") -> httpx.Response:
    with server.client() as client:
        return client.post(path, data={"signed_request": signed_request})


def _last_refusal(server: LiveServer) -> dict[str, Any]:
    [event] = _admin(server, "GET", "/audit?limit=1").json()
    return dict(event)


@pytest.mark.parametrize(
    ("key", "developer_name", "namespace"),
    [
        ("ck_orders", "Orders", "acme"),  # namespace-qualified, as a managed package sends it
        ("ck_orders", "ORDERS", "ACME"),  # developer names are case-insensitive
        ("ck_billing", "Billing", None),
        ("ck_legacy", "Not_Registered", None),  # names no app: the apps without a name are tried
    ],
)
def test_each_app_is_reached_through_the_name_its_envelope_carries(
    server: LiveServer, key: str, developer_name: str, namespace: str | None
) -> None:
    response = _post(server, _signed(APPS[key][0], developer_name=developer_name, namespace=namespace))
    assert response.status_code == 303, response.text


def test_a_request_is_checked_against_the_named_apps_secrets_only(server: LiveServer) -> None:
    forged = _signed(APPS["ck_billing"][0], developer_name="Orders", namespace="acme")
    response = _post(server, forged)
    assert response.status_code == 401
    refusal = _last_refusal(server)
    assert refusal["code"] == "canvas_signature_invalid"
    assert "none of the 1 configured secret(s)" in refusal["detail"]


def test_unnamed_apps_beyond_the_bound_are_refused_with_what_to_do(server: LiveServer) -> None:
    for n in range(2):
        created = _admin(server, "POST", "/apps", consumer_key=f"ck_more{n}", secret=f"more-consumer-secret-000{n}")
        assert created.status_code == 201
    response = _post(server, _signed(APPS["ck_legacy"][0], developer_name="Not_Registered"))
    assert response.status_code == 401
    refusal = _last_refusal(server)
    assert refusal["code"] == "unknown_app"
    detail = refusal["detail"]
    assert "--canvas-name" in detail
    assert "/canvas/CONSUMER_KEY" in detail
    # The per-app URL and the named apps still work.
    assert _post(server, _signed(APPS["ck_legacy"][0], developer_name="X"), "/canvas/ck_legacy").status_code == 303
    assert _post(server, _signed(APPS["ck_billing"][0], developer_name="Billing")).status_code == 303
    # Naming the app routes it again.
    renamed = _admin(server, "PATCH", "/apps/ck_legacy", canvas_name="Legacy_App")
    assert renamed.status_code == 200
    assert renamed.json()["canvas_name"] == "Legacy_App"
    assert _post(server, _signed(APPS["ck_legacy"][0], developer_name="Legacy_App")).status_code == 303


def test_an_oversized_request_is_refused_by_its_size_before_any_hmac(server: LiveServer) -> None:
    junk = "A" * 43 + "." + "B" * (300 * 1024)
    response = _post(server, junk)
    assert response.status_code == 413
    assert _last_refusal(server)["code"] == "signed_request_too_large"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"canvas_name": "has space"}, "developer name"),
        ({"canvas_name": "ns__x__y"}, "developer name"),
        ({"canvas_name": "Trailing_"}, "developer name"),
        ({"canvas_name": 7}, "must be a string"),
        ({"any_org": True}, "any_org"),
    ],
)
def test_an_app_update_refuses_what_is_not_a_developer_name(
    server: LiveServer, body: dict[str, Any], message: str
) -> None:
    with server.admin() as admin:
        response = admin.patch(f"{PREFIX}/apps/ck_legacy", json=body)
    assert response.status_code == 400
    assert message in response.json()["error_description"]
    assert _admin(server, "GET", "/apps/ck_legacy").json()["canvas_name"] is None  # nothing written


def test_an_app_update_of_an_unknown_app_is_404(server: LiveServer) -> None:
    assert _admin(server, "PATCH", "/apps/nope", canvas_name="X").status_code == 404
