"""``GET /api/v1/certificates``: the calling org's certificates and the days each has left."""

from __future__ import annotations

import httpx

from server.live import LiveServer, Org, exchange

URL = "/api/v1/certificates"


def test_the_org_sees_its_certificates_and_days_left(live_server: LiveServer, registered: Org) -> None:
    token = exchange(live_server, registered.assertion(live_server.token_endpoint)).json()["access_token"]
    with live_server.client() as client:
        answer = client.get(URL, headers={"authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["org_id"] == registered.org_id
        [certificate] = body["certificates"]
        assert certificate["days_to_expiry"] == 364  # made a day ago, valid 365 days
        assert certificate["state"] == "active"
        direct = client.get(URL, headers={"authorization": f"Bearer {registered.assertion(live_server.url)}"})
        assert direct.status_code == 200, direct.text
        assert direct.json()["certificates"] == body["certificates"]


def test_without_the_orgs_credential_nothing_is_shown(live_server: LiveServer, registered: Org) -> None:
    with live_server.client() as client:
        assert client.get(URL).status_code == 401
        assert client.get(URL, headers={"authorization": "Bearer junk"}).status_code == 401
        assert client.get(URL, headers={"authorization": "Basic eDp5"}).status_code == 401
        assert client.get(URL, headers={"authorization": "Bearer a b"}).status_code == 400
        # A browser's Canvas session is not the org's credential here.
        assert client.get(URL, headers={"cookie": "forcegate_session=" + "a" * 43}).status_code == 401
    assert httpx.post(live_server.url + URL, timeout=10).status_code == 405
