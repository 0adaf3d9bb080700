"""The admin API's enrollment queue: list, show, approve, reject (manual policy), and its refusals."""

from __future__ import annotations

import asyncio

import httpx

from forcegate.registry import Actor, RegistryService
from forcegate.registry.enrollment import StartedEnrollment
from forcegate.stores import open_stores
from server.live import ORG_ID, LiveServer, Org, exchange

PREFIX = "/admin/api/v1/enrollments"


def start(server: LiveServer, org: Org) -> StartedEnrollment:
    async def go() -> StartedEnrollment:
        stores = await open_stores(server.settings)
        try:
            registry = RegistryService(stores, settings=server.settings, clock=server.clock)
            return await registry.enrollments.start(
                org_id=org.org_id, user_id="0055g00000AbCdEAAV", username="admin@acme.example",
                certificate=org.certificate, actor=Actor(entry="/enroll/certificate", credential="salesforce-sign-in"),
            )  # fmt: skip
        finally:
            await stores.close()

    return asyncio.run(go())


def prove(server: LiveServer, org: Org, code: str) -> httpx.Response:
    assertion = org.assertion(server.url + "/enroll/proof", claims={"enrollment_code": code})
    return httpx.post(server.url + "/enroll/proof", data={"assertion": assertion}, timeout=30)


def test_manual_approval_through_the_admin_api(live_server: LiveServer, org: Org) -> None:
    started = start(live_server, org)
    eid = started.enrollment.enrollment_id
    proven = prove(live_server, org, started.code)
    assert proven.json()["state"] == "pending_approval"
    assert exchange(live_server, org.assertion(live_server.token_endpoint)).status_code == 400
    with live_server.admin() as admin:
        [pending] = admin.get(PREFIX, params={"state": "pending_approval"}).json()
        assert (pending["id"], pending["org_id"], pending["proven_at"] is not None) == (eid, ORG_ID, True)
        assert admin.get(PREFIX, params={"state": "active"}).json() == []
        assert admin.get(PREFIX, params={"org": ORG_ID[:15]}).json()[0]["id"] == eid
        assert admin.get(f"{PREFIX}/{eid}").json()["state"] == "pending_approval"
        approved = admin.post(f"{PREFIX}/{eid}/approve")
        assert approved.status_code == 200
        assert approved.json()["state"] == "active"
        assert approved.json()["decided_by"] == f"{PREFIX}/{eid}/approve (admin)"
        again = admin.post(f"{PREFIX}/{eid}/approve")
        assert again.status_code == 409
        assert again.json()["code"] == "enrollment_state_conflict"
        org_view = admin.get(f"/admin/api/v1/orgs/{ORG_ID}").json()
    assert [c["sha256_fingerprint"] for c in org_view["certificates"]] == [started.enrollment.sha256_fingerprint]
    assert exchange(live_server, org.assertion(live_server.token_endpoint)).status_code == 200


def test_rejection_through_the_admin_api(live_server: LiveServer, org: Org) -> None:
    started = start(live_server, org)
    eid = started.enrollment.enrollment_id
    with live_server.admin() as admin:
        rejected = admin.post(f"{PREFIX}/{eid}/reject", json={"reason": "not a customer"})
        assert rejected.status_code == 200
        assert (rejected.json()["state"], rejected.json()["reason"]) == ("rejected", "not a customer")
        assert admin.post(f"{PREFIX}/{eid}/reject").status_code == 409
        codes = [e["code"] for e in admin.get("/admin/api/v1/audit").json()]
    assert "enrollment_rejected" in codes
    assert prove(live_server, org, started.code).json() == {"error": "invalid_grant"}


def test_refusals(live_server: LiveServer, org: Org) -> None:
    eid = start(live_server, org).enrollment.enrollment_id
    with live_server.admin() as admin:
        assert admin.get(f"{PREFIX}/enr_unknown").status_code == 404
        assert admin.post(f"{PREFIX}/enr_{'a' * 20}/approve").status_code == 404
        assert admin.get(PREFIX, params={"state": "done"}).status_code == 400
        assert admin.get(PREFIX, params={"org": "00Dnope"}).status_code == 400
        assert admin.post(f"{PREFIX}/{eid}/reject", content=b"{").status_code == 400
        assert admin.post(f"{PREFIX}/{eid}/reject", json={"reason": "x" * 300}).status_code == 400
        assert admin.post(f"{PREFIX}/{eid}/reject", json={"extra": 1}).status_code == 400
        assert admin.get(f"{PREFIX}/{eid}").json()["state"] == "pending_proof"  # nothing changed


def test_junk_proofs_write_a_bounded_audit_trail(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for _ in range(70):
            refused = client.post("/enroll/proof", data={"assertion": "junk.junk.junk"})
            assert refused.json() == {"error": "invalid_grant"}
    with live_server.admin() as admin:
        events = admin.get("/admin/api/v1/audit", params={"limit": 1000}).json()
    junk = [e for e in events if e["endpoint"] == "/enroll/proof"]
    assert 0 < len(junk) <= live_server.settings.audit_unverified_limit
