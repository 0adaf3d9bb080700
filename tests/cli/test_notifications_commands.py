"""``forcegate notifications list|retry``: the outbox seen and a failed event sent again."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

from forcegate.settings import load_settings
from forcegate.stores import open_stores
from forcegate.stores.notification_rows import Notification
from helpers import Runner

DAY = 86_400


def event(n: int, now: float) -> Notification:
    event_id = f"enrollment.pending_approval:enr_{'a' * 19}{'abcdefgh'[n]}"
    body = {"id": event_id, "type": "enrollment.pending_approval", "data": {"username": "admin@acme.example"}}
    return Notification(
        event_id=event_id,
        event_type="enrollment.pending_approval",
        payload=json.dumps(body),
        created_at=now,
        next_attempt_at=now,
        give_up_at=now + DAY,
        updated_at=now,
    )


def outbox(now: float) -> list[str]:
    """Three events: the first delivered, the second given up (with a multi-line error), the third waiting."""

    async def go() -> list[str]:
        stores = await open_stores(load_settings())
        try:
            events = [event(n, now - 60 + n) for n in range(3)]
            await stores.notifications.enqueue(events)
            claim = secrets.token_hex(16)
            await stores.notifications.claim_due(now - 58, lease_until=now + 60, claim=claim, limit=2)
            await stores.notifications.mark_delivered(events[0].event_id, now=now - 10)
            await stores.notifications.mark_failed(
                events[1].event_id, claim, now=now - 5, error="HTTP 500\nfrom the receiver", retry_at=None
            )
            return [e.event_id for e in events]
        finally:
            await stores.close()

    return asyncio.run(go())


def test_list_shows_each_state_newest_change_first(forcegate: Runner, store_line: str) -> None:
    delivered, failed, waiting = outbox(time.time())
    listed = forcegate("notifications", "list")
    assert (listed.code, listed.err) == (0, store_line)
    lines = listed.out.splitlines()
    assert [line.split("  ")[:3] for line in lines] == [
        [failed, "failed", "1"],
        [delivered, "delivered", "1"],
        [waiting, "pending", "0"],
    ]
    assert lines[0].endswith("HTTP 500\\nfrom the receiver")  # one line per event, whatever the error
    assert lines[1].endswith("  -")
    only = forcegate("notifications", "list", "--state", "failed", "--state", "pending", "--json")
    assert only.code == 0
    shown = json.loads(only.out)
    assert [(n["id"], n["state"]) for n in shown] == [(failed, "failed"), (waiting, "pending")]
    assert shown[0]["next_attempt_at"] is None
    assert shown[1]["next_attempt_at"] is not None
    assert shown[0]["event"]["data"] == {"username": "admin@acme.example"}
    assert forcegate("notifications", "list", "--state", "lost").code == 2


def test_retry_sends_a_failed_event_again_and_refuses_a_delivered_one(forcegate: Runner) -> None:
    delivered, failed, _ = outbox(time.time())
    retried = forcegate("notifications", "retry", failed)
    assert retried.code == 0
    assert retried.out.startswith(f"{failed}  pending  0  ")
    refused = forcegate("notifications", "retry", delivered)
    assert refused.code == 1
    assert refused.err.endswith(
        f"forcegate: registry_error: notification {delivered!r} was delivered: there is nothing to retry\n"
    )
    unknown = forcegate("notifications", "retry", "certificate.expiring:nope")
    assert (unknown.code, unknown.err.splitlines()[-1]) == (
        1,
        "forcegate: not_found: no notification 'certificate.expiring:nope'",
    )
    assert forcegate("notifications", "retry").code == 2  # an ID or --all-failed
    assert forcegate("notifications", "retry", failed, "--all-failed").code == 2


def test_retry_every_failed_event(forcegate: Runner) -> None:
    _, failed, _ = outbox(time.time())
    retried = forcegate("notifications", "retry", "--all-failed", "--json")
    assert retried.code == 0
    assert [(n["id"], n["state"], n["attempts"]) for n in json.loads(retried.out)] == [(failed, "pending", 0)]
    assert json.loads(forcegate("notifications", "retry", "--all-failed", "--json").out) == []
