"""The ``forcegate_enrollments_pending`` gauge: open enrollments by state, read at scrape time."""

from __future__ import annotations

from server.live import LiveServer, Org
from server.test_admin_enrollments import prove, start
from server.test_metrics import scrape, value

GAUGE = "forcegate_enrollments_pending"


def test_open_enrollments_are_gauged_by_state(live_server: LiveServer, org: Org) -> None:
    before = scrape(live_server)
    assert [value(before, GAUGE, state=s) for s in ("pending_proof", "approved", "pending_approval")] == [0, 0, 0]
    assert {s.labels["state"] for s in before if s.name == GAUGE} == {"pending_proof", "approved", "pending_approval"}
    started = start(live_server, org)
    assert value(scrape(live_server), GAUGE, state="pending_proof") == 1
    assert prove(live_server, org, started.code).json()["state"] == "pending_approval"  # the manual policy
    proven = scrape(live_server)
    assert value(proven, GAUGE, state="pending_proof") == 0
    assert value(proven, GAUGE, state="pending_approval") == 1
    with live_server.admin() as admin:
        admin.post(f"/admin/api/v1/enrollments/{started.enrollment.enrollment_id}/approve").raise_for_status()
    assert value(scrape(live_server), GAUGE, state="pending_approval") == 0  # active is not pending
