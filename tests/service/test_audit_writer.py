"""AuditWriter: immediate writes fail loudly, queued writes are batched and survive a store outage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from forcegate.clock import FixedClock
from forcegate.errors import InvalidSignature, StoreUnavailable
from forcegate.service import audit as audit_module
from forcegate.service.audit import AuditWriter
from forcegate.stores.models import AuditEvent


class FlakyLog:
    """An AuditLog that can be switched off, recording the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[AuditEvent]] = []
        self.down = False

    async def append(self, events: Sequence[AuditEvent]) -> None:
        if self.down:
            raise StoreUnavailable("audit store is down")
        self.batches.append(list(events))

    async def query(
        self, *, org_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> Sequence[AuditEvent]:
        return [event for batch in self.batches for event in batch][:limit]

    async def purge(self, before: float) -> int:
        raise NotImplementedError("the writer never purges")


def test_event_fields_for_allowed_and_denied() -> None:
    writer = AuditWriter(FlakyLog(), clock=FixedClock(1000.0))
    allowed = writer.event(endpoint="/oauth2/token", credential="jwt-bearer", org_id="00D5g000004ABCDEA4")
    assert (allowed.result, allowed.code, allowed.detail, allowed.at) == ("allowed", "ok", "", 1000.0)
    denied = writer.event(endpoint="/oauth2/token", credential="jwt-bearer", error=InvalidSignature("x" * 900))
    assert (denied.result, denied.code) == ("denied", "invalid_signature")
    assert len(denied.detail) == 500


def test_write_propagates_a_store_failure() -> None:
    log = FlakyLog()
    writer = AuditWriter(log, clock=FixedClock(0))
    log.down = True
    with pytest.raises(StoreUnavailable):
        asyncio.run(writer.write(writer.event(endpoint="/x", credential="jwt")))


def test_queued_events_are_batched_and_kept_while_the_store_is_down() -> None:
    log = FlakyLog()
    writer = AuditWriter(log, clock=FixedClock(0), max_batch=3)
    for n in range(7):
        writer.enqueue(writer.event(endpoint=f"/e{n}", credential="access-token"))
    log.down = True
    asyncio.run(writer.flush())
    assert log.batches == []
    log.down = False
    asyncio.run(writer.flush())
    assert [len(batch) for batch in log.batches] == [3, 3, 1]
    assert [event.endpoint for batch in log.batches for event in batch] == [f"/e{n}" for n in range(7)]


def test_the_queue_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "MAX_QUEUE", 5)
    writer = AuditWriter(FlakyLog(), clock=FixedClock(0))
    for _ in range(8):
        writer.enqueue(writer.event(endpoint="/e", credential="session"))
    assert writer.dropped == 3


def test_background_flush_and_final_flush_on_stop() -> None:
    log = FlakyLog()

    async def scenario() -> None:
        writer = AuditWriter(log, clock=FixedClock(0), flush_interval=0.01)
        writer.start()
        writer.enqueue(writer.event(endpoint="/first", credential="session"))
        for _ in range(100):
            if log.batches:
                break
            await asyncio.sleep(0.01)
        assert log.batches, "the background task flushed"
        writer.enqueue(writer.event(endpoint="/last", credential="session"))
        await writer.stop()

    asyncio.run(scenario())
    assert [event.endpoint for batch in log.batches for event in batch] == ["/first", "/last"]


class SlowLog(FlakyLog):
    """A FlakyLog whose writes yield to the event loop, as a networked store's do."""

    async def append(self, events: Sequence[AuditEvent]) -> None:
        await asyncio.sleep(0)
        await super().append(events)


def test_concurrent_flushes_write_each_event_once() -> None:
    # The batch task and an admin audit listing may flush at the same time.
    log = SlowLog()

    async def scenario() -> None:
        writer = AuditWriter(log, clock=FixedClock(0), max_batch=2)
        for n in range(5):
            writer.enqueue(writer.event(endpoint=f"/e{n}", credential="access-token"))
        await asyncio.gather(writer.flush(), writer.flush(), writer.flush())

    asyncio.run(scenario())
    written = sorted(event.endpoint for batch in log.batches for event in batch)
    assert written == [f"/e{n}" for n in range(5)]
