"""The notifier on a fixed clock: what the scan announces, how delivery retries, backs off and gives up,
what is signed, and that neither a failing receiver nor a failing store escapes its loop.

The stores are the embedded SQLite (the contract suite covers the other backends); the receiver is
an ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.clock import FixedClock
from forcegate.errors import StoreUnavailable
from forcegate.service import notifications as notifications_module
from forcegate.service.notification_events import (
    DAY,
    expiry_threshold,
    sign,
    verify_signature,
)
from forcegate.service.notifications import Notifier, RetryPolicy, retry_notification, url_origin
from forcegate.settings import Settings
from forcegate.stores import Enrollment, Org, Stores, open_stores
from forcegate.stores.notification_rows import Notification
from forcegate.stores.protocols import NotificationStore
from helpers import self_signed

T = TypeVar("T")
NOW = 1_800_000_000.0
ORG = "00D5g000004ABCDEA4"
OTHER_ORG = "00D5g000004XYZWEA4"
SECRET = "receiver-shared-secret-0123456789"
URL = "https://hooks.example.com/services/T0KEN-IN-THE-PATH"


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "public_url": "https://forcegate.example.com",
        "notify_url": URL,
        "notify_secret": SECRET,
    }
    values.update(overrides)
    return Settings(**values)


class Receiver:
    """A receiver answering from a script (a status, or an exception to raise), then 200; it records every request."""

    def __init__(self, *answers: int | Exception, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.delay = delay

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        headers = {"retry-after": "120"} if answer == 429 else {}
        if answer == 302:
            headers = {"location": "https://elsewhere.example/"}
        return httpx.Response(answer, headers=headers, text="body that is never read")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


class Counts:
    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], int] = {}

    def __call__(self, event_type: str, result: str, amount: int) -> None:
        self.seen[(event_type, result)] = self.seen.get((event_type, result), 0) + amount


@asynccontextmanager
async def notifier(
    config: Settings, clock: FixedClock, receiver: Receiver, *, counts: Counts | None = None
) -> AsyncIterator[tuple[Notifier, Stores]]:
    stores = await open_stores(config)
    client = httpx.AsyncClient(transport=httpx.MockTransport(receiver), follow_redirects=False)
    try:
        yield Notifier(stores, config, clock=clock, client=client, observer=counts), stores
    finally:
        await client.aclose()
        await stores.close()


def run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


def certificate(days_left: float, cn: str) -> Any:
    end = dt.datetime.fromtimestamp(NOW, dt.UTC) + dt.timedelta(days=days_left)
    # A key of its own: the registry refuses one key trusted for two orgs.
    return self_signed(ec.generate_private_key(ec.SECP256R1()), cn=cn, start=end - dt.timedelta(days=365), days=365)


async def register(stores: Stores, org_id: str, *days_left: float) -> None:
    await stores.trust.add_org(Org(org_id=org_id))
    for n, days in enumerate(days_left):
        await stores.trust.add_certificate(org_id, certificate(days, f"{org_id}-{n}"))


# --- what is announced ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_left", "threshold"),
    [
        (45, None),
        (30.01, None),
        (30, 30),
        (29.5, 30),
        (7.2, 30),
        (7, 7),
        (5, 7),
        (1.5, 7),
        (1, 1),
        (0.01, 1),
        (0, None),
        (-3, None),
    ],
)
def test_the_nearest_threshold_crossed(days_left: float, threshold: int | None) -> None:
    assert expiry_threshold(NOW + days_left * DAY, NOW) == threshold


def test_each_certificate_is_announced_once_per_threshold_the_nearest_first(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    counts = Counts()

    async def scenario() -> list[str]:
        async with notifier(settings(tmp_path), clock, Receiver(), counts=counts) as (notes, stores):
            await register(stores, ORG, 5)  # first seen past 30 and 7: only 7
            await register(stores, OTHER_ORG, 20)
            assert await notes.scan() == 2
            assert await notes.scan() == 0  # nothing new: nothing written
            clock.advance(4.5 * DAY)  # ORG's at half a day, OTHER_ORG's at 15.5
            assert await notes.scan() == 1
            clock.advance(6 * DAY)  # ORG's has expired; OTHER_ORG's at 9.5 days
            assert await notes.scan() == 0
            clock.advance(3 * DAY)  # OTHER_ORG's at 6.5 days
            assert await notes.scan() == 1
            return [n.event_id for n in await stores.notifications.list_notifications()]

    found = run(scenario())
    thresholds = sorted((event_id.split(":")[2][:5], event_id.split(":")[3]) for event_id in found)
    assert thresholds == sorted([(ORG[:5], "7"), (ORG[:5], "1"), (OTHER_ORG[:5], "30"), (OTHER_ORG[:5], "7")])
    assert counts.seen == {("certificate.expiring", "enqueued"): 4}


def test_the_scan_reads_page_by_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifications_module, "SCAN_PAGE", 2)
    clock = FixedClock(NOW)
    sign_in = Enrollment(
        enrollment_id="enr_aaaaaaaaaaaaaaaaaaaa",
        org_id=ORG,
        user_id="0055g00000AbCdEAAV",
        username="admin@acme.example",
        certificate_der=b"",
        sha256_fingerprint="",
        state="pending_approval",
        code_digest=hashlib.sha256(b"code").hexdigest(),
        code_expires_at=NOW + DAY,
        created_at=NOW - 100,
        updated_at=NOW - 100,
    )

    async def scenario() -> list[str]:
        async with notifier(settings(tmp_path), clock, Receiver()) as (notes, stores):
            for n in range(5):
                await register(stores, f"00D5g000004A{n:03d}", 1 + n)
            for n in range(5):
                der = certificate(300, f"enrolled {n}").public_bytes(Encoding.DER)
                await stores.enrollments.add_enrollment(
                    dataclasses.replace(
                        sign_in,
                        enrollment_id=f"enr_{'abcde'[n] * 20}",
                        certificate_der=der,
                        sha256_fingerprint=hashlib.sha256(der).hexdigest(),
                        created_at=NOW - 100 + n,
                    )
                )
            assert await notes.scan() == 10
            assert await notes.scan() == 0
            return [n.event_type for n in await stores.notifications.list_notifications()]

    assert sorted(run(scenario())) == ["certificate.expiring"] * 5 + ["enrollment.pending_approval"] * 5


def test_the_expiring_event_body(tmp_path: Path) -> None:
    clock = FixedClock(NOW)

    async def scenario() -> Notification:
        async with notifier(settings(tmp_path), clock, Receiver()) as (notes, stores):
            await register(stores, ORG, 5.5)
            await notes.scan()
            (event,) = await stores.notifications.list_notifications()
            return event

    event = run(scenario())
    body = json.loads(event.payload)
    fingerprint = body["data"]["fingerprint"]
    assert event.event_id == f"certificate.expiring:{fingerprint}:{ORG}:7"
    not_after = dt.datetime.fromtimestamp(NOW, dt.UTC) + dt.timedelta(days=5.5)
    assert body == {
        "id": event.event_id,
        "type": "certificate.expiring",
        "at": "2027-01-15T08:00:00Z",
        "source": "https://forcegate.example.com",
        "data": {
            "org_id": ORG,
            "fingerprint": fingerprint,
            "subject": f"CN={ORG}-0",
            "label": "",
            "not_after": not_after.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "days_left": 5,
            "threshold": 7,
        },
    }
    assert (event.created_at, event.next_attempt_at, event.give_up_at) == (NOW, NOW, NOW + DAY)


def test_an_enrollment_waiting_for_approval_is_announced_once_without_its_code(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    der = certificate(200, "enrolled").public_bytes(Encoding.DER)
    code_digest = hashlib.sha256(b"the one-time code").hexdigest()
    waiting = Enrollment(
        enrollment_id="enr_abcdefghijklmnopqrst",
        org_id=ORG,
        user_id="0055g00000AbCdEAAV",
        username="admin@acme.example",
        certificate_der=der,
        sha256_fingerprint=hashlib.sha256(der).hexdigest(),
        state="pending_approval",
        code_digest=code_digest,
        code_expires_at=NOW + DAY,
        created_at=NOW - 60,
        updated_at=NOW - 30,
    )

    async def scenario() -> list[Notification]:
        async with notifier(settings(tmp_path), clock, Receiver()) as (notes, stores):
            await stores.enrollments.add_enrollment(waiting)
            await stores.enrollments.add_enrollment(
                dataclasses.replace(
                    waiting,
                    enrollment_id="enr_bbbbbbbbbbbbbbbbbbbb",
                    state="pending_proof",
                    sha256_fingerprint=hashlib.sha256(der).hexdigest(),
                    org_id=OTHER_ORG,
                )
            )
            assert await notes.scan() == 1
            assert await notes.scan() == 0
            return list(await stores.notifications.list_notifications())

    (event,) = run(scenario())
    assert event.event_id == "enrollment.pending_approval:enr_abcdefghijklmnopqrst"
    assert json.loads(event.payload)["data"] == {
        "enrollment_id": "enr_abcdefghijklmnopqrst",
        "org_id": ORG,
        "username": "admin@acme.example",
        "fingerprint": hashlib.sha256(der).hexdigest(),
        "created_at": "2027-01-15T07:59:00Z",
        "replaces_fingerprint": None,  # an enrollment by sign-in, not a rotation
    }
    assert code_digest not in event.payload
    assert der.hex() not in event.payload


# --- delivery -------------------------------------------------------------------------------------


def test_failures_are_retried_with_backoff_until_delivered_once_signed(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    receiver = Receiver(503, httpx.ConnectError("connection refused"))
    counts = Counts()

    async def scenario() -> Notification | None:
        async with notifier(settings(tmp_path), clock, receiver, counts=counts) as (notes, stores):
            await register(stores, ORG, 3)
            await notes.scan()
            assert await notes.deliver_due() == 1  # 503
            (event,) = await stores.notifications.list_notifications()
            assert 1.6 <= event.next_attempt_at - NOW <= 2.0
            assert (event.state, event.attempts, event.last_error) == ("pending", 1, "HTTP 503")
            assert await notes.deliver_due() == 0  # not due yet
            clock.set(event.next_attempt_at)
            assert await notes.deliver_due() == 1  # refused
            (event,) = await stores.notifications.list_notifications()
            assert 3.2 <= event.next_attempt_at - clock.now() <= 4.0
            assert event.last_error == "ConnectError: connection refused"
            clock.set(event.next_attempt_at)
            assert await notes.deliver_due() == 1  # 200
            clock.advance(DAY)
            assert await notes.deliver_due() == 0
            return await stores.notifications.get_notification(event.event_id)

    delivered = run(scenario())
    assert delivered is not None
    assert (delivered.state, delivered.attempts, delivered.last_error) == ("delivered", 3, "")
    assert len(receiver.requests) == 3
    assert {request.content for request in receiver.requests} == {delivered.payload.encode()}
    for attempt, request in enumerate(receiver.requests, start=1):
        assert request.url == URL
        assert request.headers["content-type"] == "application/json"
        assert request.headers["forcegate-event-id"] == delivered.event_id
        assert request.headers["forcegate-event-type"] == "certificate.expiring"
        assert request.headers["forcegate-attempt"] == str(attempt)
        signature = request.headers["forcegate-signature"]
        stamp = int(signature.split(",")[0].removeprefix("t="))
        assert verify_signature(SECRET, signature, request.content, now=stamp)
        assert not verify_signature("another-secret-0123456789", signature, request.content, now=stamp)
    assert counts.seen == {
        ("certificate.expiring", "enqueued"): 1,
        ("certificate.expiring", "retried"): 2,
        ("certificate.expiring", "delivered"): 1,
    }


def test_an_undeliverable_event_is_abandoned_after_a_day(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FixedClock(NOW)
    receiver = Receiver(*([500] * 1000))
    counts = Counts()

    async def scenario() -> tuple[Notification | None, list[float]]:
        async with notifier(settings(tmp_path), clock, receiver, counts=counts) as (notes, stores):
            await register(stores, ORG, 3)
            await notes.scan()
            (event,) = await stores.notifications.list_notifications()
            times = []
            while (
                current := await stores.notifications.get_notification(event.event_id)
            ) and current.state == "pending":
                clock.set(current.next_attempt_at)
                times.append(clock.now())
                assert await notes.deliver_due() == 1
            return current, times

    with caplog.at_level(logging.INFO, logger="forcegate.notifications"):
        failed, times = run(scenario())
    assert failed is not None
    assert (failed.state, failed.last_error) == ("failed", "HTTP 500")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:4] == pytest.approx([2, 4, 8, 16], rel=0.21)
    assert max(gaps) <= 3600
    assert times[-1] == NOW + DAY  # one last attempt at the bound, none after
    assert len(receiver.requests) == len(times) == failed.attempts
    assert 25 <= failed.attempts <= 45
    assert counts.seen[("certificate.expiring", "abandoned")] == 1
    assert counts.seen[("certificate.expiring", "retried")] == failed.attempts - 1
    abandoned = [r for r in caplog.records if "abandoned" in r.getMessage()]
    assert len(abandoned) == 1
    assert abandoned[0].levelno == logging.ERROR
    assert "T0KEN" not in caplog.text  # the URL's path is never logged


def test_retry_after_is_honoured_and_redirects_are_not_followed(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    receiver = Receiver(429, 302)

    async def scenario() -> list[float]:
        async with notifier(settings(tmp_path), clock, receiver) as (notes, stores):
            await register(stores, ORG, 3)
            await notes.scan()
            waits = []
            for _ in range(2):
                await notes.deliver_due()
                (event,) = await stores.notifications.list_notifications()
                waits.append(event.next_attempt_at - clock.now())
                clock.set(event.next_attempt_at)
            return waits

    waits = run(scenario())
    assert waits[0] == 120  # Retry-After: 120 over the 2-second backoff
    assert 3.2 <= waits[1] <= 4  # the redirect is a failure, not followed
    assert [str(r.url) for r in receiver.requests] == [URL, URL]


def test_without_a_secret_nothing_is_signed(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    receiver = Receiver()

    async def scenario() -> None:
        async with notifier(settings(tmp_path, notify_secret=None), clock, receiver) as (notes, stores):
            await register(stores, ORG, 3)
            await notes.scan()
            await notes.deliver_due()

    run(scenario())
    (request,) = receiver.requests
    assert "forcegate-signature" not in request.headers


def test_two_workers_send_each_event_once(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    receiver = Receiver(delay=0.02)
    config = settings(tmp_path)

    async def scenario() -> None:
        async with notifier(config, clock, receiver) as (a, stores), notifier(config, clock, receiver) as (b, _):
            for n in range(12):
                org_id = f"00D5g000004A{n:03d}"
                await register(stores, org_id, 2 + n / 10)
            assert await a.scan() + await b.scan() == 12
            while sum(await asyncio.gather(a.deliver_due(), b.deliver_due(), a.deliver_due(), b.deliver_due())):
                pass

    run(scenario())
    ids = [body["id"] for body in receiver.bodies()]
    assert len(ids) == 12
    assert len(set(ids)) == 12


def test_a_receivers_error_never_names_the_urls_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FixedClock(NOW)
    receiver = Receiver(httpx.ConnectError(f"cannot reach {URL}"), TimeoutError())

    async def scenario() -> list[str]:
        async with notifier(settings(tmp_path), clock, receiver) as (notes, stores):
            await register(stores, ORG, 3)
            await notes.scan()
            errors = []
            for _ in range(2):
                await notes.deliver_due()
                (event,) = await stores.notifications.list_notifications()
                errors.append(event.last_error)
                clock.set(event.next_attempt_at)
            return errors

    with caplog.at_level(logging.INFO, logger="forcegate.notifications"):
        errors = run(scenario())
    assert errors == ["ConnectError: cannot reach https://hooks.example.com", "timeout"]
    assert "T0KEN" not in caplog.text
    assert "https://hooks.example.com" in caplog.text
    assert url_origin("http://[::1]:8080/a?b=c") == "http://[::1]:8080"


class FailingOutbox:
    """An outbox whose every call fails as a database that is down does."""

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("PostgreSQL at postgresql://db/forcegate: connection refused")

        return fail


def test_a_failing_store_is_logged_once_and_never_escapes_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications_module, "POLL_INTERVAL", 0.01)
    config = settings(tmp_path)

    async def scenario() -> bool:
        stores = await open_stores(config)
        broken = dataclasses.replace(stores, notifications=cast(NotificationStore, FailingOutbox()))
        receiver = Receiver()
        client = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
        try:
            task = asyncio.create_task(Notifier(broken, config, clock=FixedClock(NOW), client=client).run())
            await asyncio.sleep(0.3)  # some thirty rounds
            alive = not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return alive
        finally:
            await client.aclose()
            await stores.close()

    with caplog.at_level(logging.INFO, logger="forcegate.notifications"):
        assert run(scenario())
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    # One line per step while the failure lasts, not one per round.
    reason = "store_unavailable: PostgreSQL at postgresql://db/forcegate: connection refused"
    assert sorted(failures) == [f"notifications: the {step} failed: {reason}" for step in ("delivery", "purge", "scan")]


def test_the_loop_makes_its_own_client_and_closes_it_when_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications_module, "POLL_INTERVAL", 0.01)
    # A receiver on a closed port of this host: the attempts fail at once.
    config = settings(tmp_path, notify_url="http://127.0.0.1:9/hook")
    clock = FixedClock(NOW)

    async def scenario() -> Notification | None:
        stores = await open_stores(config)
        try:
            await register(stores, ORG, 3)
            task = asyncio.create_task(Notifier(stores, config, clock=clock).run())
            for _ in range(500):  # the scan at start, then the first attempt
                await asyncio.sleep(0.01)
                found = await stores.notifications.list_notifications()
                if found and found[0].last_error:
                    break
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            found = await stores.notifications.list_notifications()
            return found[0] if found else None
        finally:
            await stores.close()

    event = run(scenario())
    assert event is not None
    assert event.state == "pending"
    assert event.attempts == 1
    assert event.last_error.startswith("ConnectError")


# --- the schedule, the signature, a retry by the operator -----------------------------------------


def test_the_backoff_doubles_to_an_hour_and_stops_at_the_bound() -> None:
    policy = RetryPolicy()
    event = Notification(
        event_id="certificate.expiring:x",
        event_type="certificate.expiring",
        payload='{"id": "certificate.expiring:x"}',
        created_at=NOW,
        next_attempt_at=NOW,
        give_up_at=NOW + DAY,
        updated_at=NOW,
    )
    delays = [policy.next_attempt(dataclasses.replace(event, attempts=n), NOW + 60) for n in range(1, 16)]
    waits = [d - (NOW + 60) for d in delays if d is not None]
    assert waits[:3] == pytest.approx([2, 4, 8], rel=0.21)
    assert all(0.8 * min(3600, 2 * 2 ** (n - 1)) <= w <= min(3600, 2 * 2 ** (n - 1)) for n, w in enumerate(waits, 1))
    assert policy.next_attempt(dataclasses.replace(event, attempts=3), NOW + DAY - 1) == NOW + DAY
    assert policy.next_attempt(event, NOW + DAY) is None
    assert policy.next_attempt(event, NOW, retry_after=10**9) == NOW + 3600


def test_a_signature_is_refused_when_tampered_stale_or_malformed() -> None:
    body = b'{"id": "x"}'
    header = sign(SECRET, int(NOW), body)
    assert verify_signature(SECRET, header, body, now=NOW + 299)
    assert not verify_signature(SECRET, header, body + b" ", now=NOW)
    assert not verify_signature(SECRET, header, body, now=NOW + 301)  # a replay of an old request
    assert not verify_signature(SECRET, header, body, now=NOW - 301)
    for bad in (
        None,
        "",
        "v1=abc",
        f"t={int(NOW)}",
        f"t=soon,v1={header[-64:]}",
        f"{header},t={int(NOW)}",
        "t=1e3,v1=00",
    ):
        assert not verify_signature(SECRET, bad, body, now=NOW), bad
    expected = __import__("hmac").new(SECRET.encode(), f"{int(NOW)}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={int(NOW)},v1={expected}"


def test_the_operator_retries_a_failed_event(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    receiver = Receiver()

    async def scenario() -> Notification:
        async with notifier(settings(tmp_path), clock, receiver) as (notes, stores):
            await register(stores, ORG, 3)
            await notes.scan()
            (event,) = await stores.notifications.list_notifications()
            claim = secrets.token_hex(16)
            await stores.notifications.claim_due(NOW, lease_until=NOW + 60, claim=claim)
            await stores.notifications.mark_failed(event.event_id, claim, now=NOW, error="HTTP 500", retry_at=None)
            clock.advance(3 * DAY)
            again = await retry_notification(stores, event.event_id, clock=clock)
            assert (again.state, again.attempts, again.give_up_at) == ("pending", 0, clock.now() + DAY)
            assert await notes.deliver_due() == 1
            found = await stores.notifications.get_notification(event.event_id)
            assert found is not None
            return found

    assert run(scenario()).state == "delivered"
    assert len(receiver.requests) == 1


def test_the_documented_receiver_accepts_what_is_sent_and_nothing_else() -> None:
    """docs/onboarding.md's receiver snippet, run as written against forcegate's signature."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "onboarding.md").read_text(encoding="utf-8")
    section = text[text.index("## Notifications") :]
    snippet = section[section.index("```python\n") + len("```python\n") :]
    namespace: dict[str, Any] = {}
    exec(snippet[: snippet.index("```")], namespace)  # noqa: S102 - the documentation's own code
    receive = namespace["receive"]
    body = b'{"id": "enrollment.pending_approval:enr_x", "type": "enrollment.pending_approval"}'
    now = int(time.time())
    assert receive(SECRET, sign(SECRET, now, body), body)["type"] == "enrollment.pending_approval"
    assert receive(SECRET, sign(SECRET, now, body), body) is None  # the same id again
    for header, sent in [
        (sign(SECRET, now, body), body.replace(b"enr_x", b"enr_y")),
        (sign("another-secret-0123456789", now, body), body),
        (sign(SECRET, now - 301, body), body),
        (None, body),
        ("t=abc,v1=00", body),
    ]:
        with pytest.raises(ValueError, match="signature"):
            receive(SECRET, header, sent)
