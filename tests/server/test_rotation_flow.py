"""``POST /enroll/rotate`` over real HTTP: the org rotates to a new certificate with the setup page's
request, its new key works at once, the old one until the overlap ends (or the org confirms);
tampered, replayed and malformed requests are refused with the failing check and change nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.clock import FixedClock
from forcegate.devtools.setup_page import rotation_form
from helpers import self_signed
from server.live import CERT_NAME, LiveServer, Org, exchange, register_org, start_server

ROTATE = "/enroll/rotate"
NEW_NAME = "forcegate_cert_2027"
WEEK = 7 * 86400


@pytest.fixture
def rotating(registered: Org, other_rsa_key: rsa.RSAPrivateKey) -> Org:
    """``registered`` with a second certificate created in its Setup, not yet known to forcegate."""
    start = dt.datetime.fromtimestamp(registered.clock.now(), dt.UTC) - dt.timedelta(days=1)
    registered.certificates.add(
        NEW_NAME, private_key=other_rsa_key, certificate=self_signed(other_rsa_key, cn="org-cert-2027", start=start)
    )
    return registered


def form(server: LiveServer, org: Org, *, current: str = CERT_NAME, new: str = NEW_NAME) -> dict[str, str]:
    return rotation_form(
        org.certificates, current=current, new=new, org_id=org.org_id, username="admin@acme.example",
        service_url=server.url, clock=org.clock,
    )  # fmt: skip


def state(server: LiveServer, org: Org) -> list[tuple[str, str, str | None]]:
    with server.admin() as admin:
        answer = admin.get(f"/admin/api/v1/orgs/{org.org_id}/certificates")
        assert answer.status_code == 200, answer.text
        return sorted((c["label"], c["state"], c["retire_at"]) for c in answer.json())


def test_the_org_rotates_and_both_keys_work_during_the_overlap(live_server: LiveServer, rotating: Org) -> None:
    answer = httpx.post(live_server.url + ROTATE, data=form(live_server, rotating), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["state"] == "active"
    assert body["org_id"] == rotating.org_id
    assert body["certificate"]["subject"] == "CN=org-cert-2027"
    retire_at = dt.datetime.fromisoformat(body["retiring"]["retire_at"].replace("Z", "+00:00")).timestamp()
    assert retire_at == rotating.clock.now() + WEEK
    for name in (CERT_NAME, NEW_NAME):  # the next request on: the new key, and still the old one
        token = exchange(live_server, rotating.assertion(live_server.token_endpoint, cert_name=name))
        assert token.status_code == 200, (name, token.text)
    rotating.clock.advance(WEEK)
    refused = exchange(live_server, rotating.assertion(live_server.token_endpoint, cert_name=CERT_NAME))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert exchange(live_server, rotating.assertion(live_server.token_endpoint, cert_name=NEW_NAME)).status_code == 200
    with live_server.admin() as admin:
        events = admin.get("/admin/api/v1/audit", params={"org_id": rotating.org_id}).json()
    assert any(e["code"] == "certificate_rotated" and e["endpoint"] == ROTATE for e in events)


def test_the_org_confirms_and_the_old_key_stops_at_once(live_server: LiveServer, rotating: Org) -> None:
    body = httpx.post(live_server.url + ROTATE, data=form(live_server, rotating), timeout=10).json()
    old = body["retiring"]["sha256_fingerprint"]
    token = exchange(live_server, rotating.assertion(live_server.token_endpoint, cert_name=NEW_NAME)).json()
    url = f"{live_server.url}/api/v1/certificates/{old}/retire"
    with httpx.Client(timeout=10) as client:
        assert client.post(url).status_code == 401  # the org's credential only
        new = body["certificate"]["sha256_fingerprint"]
        refused = client.post(
            f"{live_server.url}/api/v1/certificates/{new}/retire",
            headers={"authorization": f"Bearer {token['access_token']}"},
        )
        assert refused.status_code == 409, refused.text  # the successor is in no overlap
        done = client.post(url, headers={"authorization": f"Bearer {token['access_token']}"})
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "retired"
        listed = client.get(
            live_server.url + "/api/v1/certificates", headers={"authorization": f"Bearer {token['access_token']}"}
        ).json()["certificates"]
    assert [c["sha256_fingerprint"] for c in listed] == [new]
    assert exchange(live_server, rotating.assertion(live_server.token_endpoint, cert_name=CERT_NAME)).status_code == 400


def test_tampered_and_replayed_rotations_are_refused_and_change_nothing(live_server: LiveServer, rotating: Org) -> None:
    good = form(live_server, rotating)
    before = state(live_server, rotating)
    cases = {
        "no second signature": {"assertion": good["assertion"]},
        "no first signature": {"new_key_assertion": good["new_key_assertion"]},
        "both by the new key": {**good, "assertion": good["new_key_assertion"]},
        "both by the old key": {**good, "new_key_assertion": good["assertion"]},
        "first signature altered": {**good, "assertion": good["assertion"][:-6] + "AAAAAA"},
        "junk": {"assertion": "x", "new_key_assertion": "y"},
    }
    for case, data in cases.items():
        answer = httpx.post(live_server.url + ROTATE, data=data, timeout=10)
        assert answer.status_code == 400, (case, answer.text)
        assert answer.json()["error"] in ("invalid_grant", "invalid_request"), case
        assert state(live_server, rotating) == before, case
    assert httpx.post(live_server.url + ROTATE, data=good, timeout=10).status_code == 200
    after = state(live_server, rotating)
    replayed = httpx.post(live_server.url + ROTATE, data=good, timeout=10)
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"] == "invalid_grant"
    assert state(live_server, rotating) == after


def test_a_certificate_another_org_holds_is_refused_as_shared(live_server: LiveServer, rotating: Org) -> None:
    other = "00D5g000004XYZWEA4"
    pem = rotating.certificates.certificate(NEW_NAME).public_bytes(Encoding.PEM).decode("ascii")
    with live_server.admin() as admin:
        assert admin.post("/admin/api/v1/orgs", json={"org_id": other}).status_code == 201
        added = admin.post(f"/admin/api/v1/orgs/{other}/certificates", json={"certificate": pem})
        assert added.status_code == 201, added.text
    before = state(live_server, rotating)
    answer = httpx.post(live_server.url + ROTATE, data=form(live_server, rotating), timeout=10)
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "certificate_shared"  # the org's trusted key signed: it may know why
    assert state(live_server, rotating) == before


def test_refused_rotations_are_bounded_per_client_and_org_and_a_good_one_still_passes(
    tmp_path: Path, clock: FixedClock, org: Org, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    server = start_server(tmp_path / "limited", clock=clock, failure_rate_limit=3)
    try:
        register_org(server.url, server.admin_token, org)
        start = dt.datetime.fromtimestamp(clock.now(), dt.UTC) - dt.timedelta(days=1)
        org.certificates.add(NEW_NAME, private_key=other_rsa_key, certificate=self_signed(other_rsa_key, start=start))
        good = form(server, org)
        bad = {**good, "new_key_assertion": good["assertion"]}  # names the org, refused
        answers = [httpx.post(server.url + ROTATE, data=bad, timeout=10) for _ in range(5)]
        assert [a.status_code for a in answers] == [400, 400, 400, 429, 429]
        assert int(answers[-1].headers["retry-after"]) > 0
        assert httpx.post(server.url + ROTATE, data=good, timeout=10).status_code == 200  # it verifies: it passes
    finally:
        server.stop()
