"""NotificationStore contract: the outbox of FORCEGATE_NOTIFY_URL on every backend.

An event is one row however many times (and by however many workers) it is offered; a claim is a
compare-and-set with a lease, so concurrent senders never get the same row; outcomes are recorded
only by the claim that holds the row; the expiry watch and the approval queue are read in pages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.core.ids import to18
from forcegate.errors import ConfigurationError, NotFound, RegistryError
from forcegate.stores import Enrollment, Org, Stores
from forcegate.stores.notification_rows import MAX_ERROR_LENGTH, Notification
from helpers import self_signed
from stores.stores_support import NOW, ORG, OTHER_ORG, THIRD_ORG, run

DAY = 86_400
LEASE = 60.0


def note(n: int | str, *, due: float = NOW, event_type: str = "certificate.expiring") -> Notification:
    event_id = f"{event_type}:{n}"
    body = {"id": event_id, "type": event_type, "at": "2023-11-14T22:13:20Z", "data": {"n": str(n)}}
    return Notification(
        event_id=event_id,
        event_type=event_type,
        payload=json.dumps(body),
        created_at=NOW,
        next_attempt_at=due,
        give_up_at=NOW + DAY,
        updated_at=NOW,
    )


def claim() -> str:
    return secrets.token_hex(16)


def test_an_event_is_one_row_however_often_it_is_offered(open_stores: Callable[[], Stores]) -> None:
    first, second = open_stores(), open_stores()  # two workers
    assert run(first.notifications.enqueue([note(1), note(2), note(1)])) == 2
    assert run(second.notifications.enqueue([note(2), note(3)])) == 1
    assert run(first.notifications.enqueue([])) == 0
    stored = run(second.notifications.get_notification("certificate.expiring:1"))
    assert stored == note(1)
    assert (stored.state, stored.attempts, stored.claim) == ("pending", 0, None)
    assert len(run(first.notifications.list_notifications())) == 3
    assert run(first.notifications.get_notification("certificate.expiring:9")) is None
    unknown = run(second.notifications.unknown_event_ids(["certificate.expiring:1", "certificate.expiring:7"]))
    assert unknown == {"certificate.expiring:7"}
    assert run(second.notifications.unknown_event_ids([])) == set()


@pytest.mark.parametrize(
    "bad",
    [
        {"event_id": "has space"},
        {"event_id": ""},
        {"event_type": "Certificate Expiring"},
        {"payload": "not json"},
        {"payload": json.dumps({"id": "another"})},
        {"payload": json.dumps(["a list"])},
        {"created_at": float("nan")},
    ],
)
def test_a_malformed_event_is_refused_and_nothing_is_written(stores: Stores, bad: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        run(stores.notifications.enqueue([note(1), dataclasses.replace(note(2), **bad)]))  # type: ignore[arg-type]
    assert run(stores.notifications.list_notifications()) == []


def test_a_claim_leases_the_due_events_soonest_first(open_stores: Callable[[], Stores]) -> None:
    a, b = open_stores(), open_stores()
    run(
        a.notifications.enqueue(
            [note(1, due=NOW - 3), note(2, due=NOW - 2), note(3, due=NOW - 1), note(4, due=NOW + 50)]
        )
    )
    first = claim()
    got = run(a.notifications.claim_due(NOW, lease_until=NOW + LEASE, claim=first, limit=2))
    assert [n.event_id for n in got] == ["certificate.expiring:1", "certificate.expiring:2"]
    assert {(n.claim, n.attempts, n.next_attempt_at) for n in got} == {(first, 1, NOW + LEASE)}
    rest = run(b.notifications.claim_due(NOW, lease_until=NOW + LEASE, claim=claim(), limit=10))
    assert [n.event_id for n in rest] == ["certificate.expiring:3"]
    assert run(b.notifications.claim_due(NOW, lease_until=NOW + LEASE, claim=claim())) == []
    # A sender that died: its lease ends and the events are due again, the attempt counted.
    later = run(b.notifications.claim_due(NOW + LEASE, lease_until=NOW + 2 * LEASE, claim=claim(), limit=10))
    assert [(n.event_id, n.attempts) for n in later] == [
        ("certificate.expiring:1", 2),
        ("certificate.expiring:2", 2),
        ("certificate.expiring:3", 2),
        ("certificate.expiring:4", 1),
    ]


def test_concurrent_claims_never_hand_out_the_same_event(open_stores: Callable[[], Stores]) -> None:
    senders = [open_stores() for _ in range(3)]
    run(senders[0].notifications.enqueue([note(n, due=NOW - n) for n in range(60)]))

    async def drain(stores: Stores) -> list[str]:
        taken: list[str] = []
        while batch := await stores.notifications.claim_due(NOW, lease_until=NOW + LEASE, claim=claim(), limit=4):
            taken += [n.event_id for n in batch]
            await asyncio.sleep(0)
        return taken

    async def race() -> list[list[str]]:
        return list(await asyncio.gather(*(drain(stores) for stores in senders for _ in range(2))))

    taken = run(race())
    every = [event_id for share in taken for event_id in share]
    assert len(every) == 60
    assert len(set(every)) == 60
    assert sum(1 for share in taken if share) >= 2  # they did run side by side


def test_only_the_claim_that_holds_an_event_records_a_failure(stores: Stores) -> None:
    run(stores.notifications.enqueue([note(1), note(2)]))
    mine = claim()
    run(stores.notifications.claim_due(NOW, lease_until=NOW + LEASE, claim=mine))
    assert not run(
        stores.notifications.mark_failed("certificate.expiring:1", claim(), now=NOW + 1, error="x", retry_at=NOW + 5)
    )
    assert run(
        stores.notifications.mark_failed(
            "certificate.expiring:1", mine, now=NOW + 1, error="HTTP 503", retry_at=NOW + 5
        )
    )
    retrying = run(stores.notifications.get_notification("certificate.expiring:1"))
    assert retrying is not None
    assert (retrying.state, retrying.claim, retrying.next_attempt_at, retrying.last_error, retrying.updated_at) == (
        "pending",
        None,
        NOW + 5,
        "HTTP 503",
        NOW + 1,
    )
    # Recorded once: the same claim cannot record again.
    assert not run(
        stores.notifications.mark_failed("certificate.expiring:1", mine, now=NOW + 2, error="y", retry_at=None)
    )
    assert run(
        stores.notifications.mark_failed("certificate.expiring:2", mine, now=NOW + 2, error="gone", retry_at=None)
    )
    failed = run(stores.notifications.get_notification("certificate.expiring:2"))
    assert failed is not None
    assert (failed.state, failed.last_error) == ("failed", "gone")
    assert not run(stores.notifications.mark_delivered("certificate.expiring:2", now=NOW + 3))


def test_delivered_once_and_retry(stores: Stores) -> None:
    run(stores.notifications.enqueue([note(1), note(2)]))
    run(stores.notifications.claim_due(NOW, lease_until=NOW + LEASE, claim=claim()))
    assert run(stores.notifications.mark_delivered("certificate.expiring:1", now=NOW + 1))
    assert not run(stores.notifications.mark_delivered("certificate.expiring:1", now=NOW + 2))
    delivered = run(stores.notifications.get_notification("certificate.expiring:1"))
    assert delivered is not None
    assert (delivered.state, delivered.delivered_at, delivered.claim, delivered.attempts) == (
        "delivered",
        NOW + 1,
        None,
        1,
    )
    with pytest.raises(RegistryError, match="was delivered"):
        run(stores.notifications.retry_notification("certificate.expiring:1", now=NOW + 3, give_up_at=NOW + DAY))
    with pytest.raises(NotFound):
        run(stores.notifications.retry_notification("certificate.expiring:9", now=NOW + 3, give_up_at=NOW + DAY))
    # Event 2 is claimed, its lease running: someone is sending it.
    with pytest.raises(RegistryError, match="being sent"):
        run(stores.notifications.retry_notification("certificate.expiring:2", now=NOW + 3, give_up_at=NOW + DAY))
    record = run(stores.notifications.get_notification("certificate.expiring:2"))
    assert record is not None
    assert record.claim is not None
    run(stores.notifications.mark_failed("certificate.expiring:2", record.claim, now=NOW + 4, error="e", retry_at=None))
    again = run(
        stores.notifications.retry_notification("certificate.expiring:2", now=NOW + 5, give_up_at=NOW + 9 * DAY)
    )
    assert (again.state, again.attempts, again.next_attempt_at, again.give_up_at, again.claim) == (
        "pending",
        0,
        NOW + 5,
        NOW + 9 * DAY,
        None,
    )
    assert [n.event_id for n in run(stores.notifications.claim_due(NOW + 5, lease_until=NOW + 99, claim=claim()))] == [
        "certificate.expiring:2"
    ]


def test_an_error_is_stored_as_one_bounded_line(stores: Stores) -> None:
    run(stores.notifications.enqueue([note(1)]))
    mine = claim()
    run(stores.notifications.claim_due(NOW, lease_until=NOW + LEASE, claim=mine))
    error = "line one\nline two\x1b[31m" + "x" * 1000
    run(stores.notifications.mark_failed("certificate.expiring:1", mine, now=NOW, error=error, retry_at=NOW + 1))
    stored = run(stores.notifications.get_notification("certificate.expiring:1"))
    assert stored is not None
    assert stored.last_error.startswith("line one\\nline two\\x1b[31mxxx")
    assert len(stored.last_error) == MAX_ERROR_LENGTH
    with pytest.raises(ConfigurationError):
        run(stores.notifications.mark_failed("certificate.expiring:1", "not hex", now=NOW, error="e", retry_at=None))


def test_list_by_state_and_purge_old_finished_events(stores: Stores) -> None:
    run(stores.notifications.enqueue([note(n) for n in range(4)]))
    mine = claim()
    run(stores.notifications.claim_due(NOW, lease_until=NOW + LEASE, claim=mine))
    run(stores.notifications.mark_delivered("certificate.expiring:0", now=NOW + 10))
    run(stores.notifications.mark_failed("certificate.expiring:1", mine, now=NOW + 20, error="e", retry_at=None))
    run(stores.notifications.mark_delivered("certificate.expiring:2", now=NOW + 30))
    run(stores.notifications.mark_failed("certificate.expiring:3", mine, now=NOW + 40, error="e", retry_at=NOW + 50))
    listed = run(stores.notifications.list_notifications())
    assert [n.event_id[-1] for n in listed] == ["3", "2", "1", "0"]  # most recently changed first
    finished = run(stores.notifications.list_notifications(states=["delivered", "failed"], limit=2))
    assert [n.event_id[-1] for n in finished] == ["2", "1"]
    with pytest.raises(ConfigurationError):
        run(stores.notifications.list_notifications(states=["lost"]))  # type: ignore[list-item]
    assert run(stores.notifications.purge_notifications(NOW + 25)) == 2  # 0 and 1; 3 is still pending
    assert [n.event_id[-1] for n in run(stores.notifications.list_notifications())] == ["3", "2"]
    assert run(stores.notifications.purge_notifications(NOW + 25)) == 0


# --- what the scan reads ------------------------------------------------------------------------------


def cert(now: float, days_left: float, cn: str) -> x509.Certificate:
    end = dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(days=days_left)
    start = end - dt.timedelta(days=400)
    # A key of its own: the registry refuses one key trusted for two orgs.
    return self_signed(ec.generate_private_key(ec.SECP256R1()), cn=cn, start=start, days=400)


def test_the_expiry_watch_reads_a_window_and_skips_orgs_with_a_successor(stores: Stores) -> None:
    now = time.time()
    fourth, disabled = to18("00D000000000004"), to18("00D000000000005")
    for org_id in (ORG, OTHER_ORG, THIRD_ORG, fourth, disabled):
        run(stores.trust.add_org(Org(org_id=org_id, enabled=org_id != disabled)))
    soon = run(stores.trust.add_certificate(ORG, cert(now, 5, "soon")))
    later = run(stores.trust.add_certificate(OTHER_ORG, cert(now, 20, "later")))
    run(stores.trust.add_certificate(THIRD_ORG, cert(now, 45, "not yet")))
    run(stores.trust.add_certificate(fourth, cert(now, 3, "rotated")))
    run(stores.trust.add_certificate(fourth, cert(now, 300, "its successor")))
    run(stores.trust.add_certificate(disabled, cert(now, 2, "disabled org")))
    retired = run(stores.trust.add_certificate(THIRD_ORG, cert(now, 4, "retired")))
    run(stores.trust.set_certificate_state(THIRD_ORG, retired.sha256_fingerprint, "retired"))
    found = run(stores.notifications.expiring_certificates(now, now + 30 * DAY))
    assert [(r.org_id, r.subject) for r in found] == [(ORG, "CN=soon"), (OTHER_ORG, "CN=later")]
    assert found[0].sha256_fingerprint == soon.sha256_fingerprint
    # Pages of one, by (not_after, id).
    first = run(stores.notifications.expiring_certificates(now, now + 30 * DAY, limit=1))
    assert [r.id for r in first] == [soon.id]
    second = run(
        stores.notifications.expiring_certificates(
            now, now + 30 * DAY, after=(first[0].not_after, first[0].id), limit=1
        )
    )
    assert [r.id for r in second] == [later.id]
    assert run(stores.notifications.expiring_certificates(now, now + 30 * DAY, after=(later.not_after, later.id))) == []
    # An expired certificate is not "expiring".
    assert run(stores.notifications.expiring_certificates(now + 10 * DAY, now + 30 * DAY)) == [second[0]]


def enrollment(n: int, state: str, created_at: float) -> Enrollment:
    der = cert(time.time(), 100, f"enrolled {n}").public_bytes(Encoding.DER)
    return Enrollment(
        enrollment_id=f"enr_{'abcdefghijklmnopqrs'}{'abcdefghijklmnopqrstuvwxyz'[n]}",
        org_id=ORG,
        user_id="005x0000001AbCdAAK",
        username=f"admin{n}@example.com",
        certificate_der=der,
        sha256_fingerprint=hashlib.sha256(der).hexdigest(),
        state=state,  # type: ignore[arg-type]
        code_digest=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        code_expires_at=created_at + DAY,
        created_at=created_at,
        updated_at=created_at,
    )


def test_the_approval_queue_is_read_oldest_first_in_pages(stores: Stores) -> None:
    for n, state, created in [
        (0, "pending_approval", 300.0),
        (1, "pending_proof", 100.0),
        (2, "pending_approval", 100.0),
        (3, "active", 50.0),
        (4, "pending_approval", 200.0),
    ]:
        run(stores.enrollments.add_enrollment(enrollment(n, state, created)))
    waiting = run(stores.notifications.pending_approvals())
    assert [e.username for e in waiting] == ["admin2@example.com", "admin4@example.com", "admin0@example.com"]
    page = run(stores.notifications.pending_approvals(limit=2))
    rest = run(stores.notifications.pending_approvals(after=(page[-1].created_at, page[-1].enrollment_id)))
    assert [e.enrollment_id for e in (*page, *rest)] == [e.enrollment_id for e in waiting]
