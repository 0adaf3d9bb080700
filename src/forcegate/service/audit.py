"""Writes authentication decisions to the audit log and the server log.

Decisions that create or consume a credential (a token issued, an assertion used directly, a Canvas
session opened) and every refusal at those endpoints are written before the response is sent: if
the audit store cannot take them, the request fails closed. Routine access-token checks at the API
are queued and written in batches (at most ``flush_interval`` later, and on shutdown): one row per
API call written synchronously would cost more than the call itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from forcegate.clock import Clock
from forcegate.core.identity import Identity
from forcegate.errors import ForcegateError
from forcegate.service.refusal_budget import RefusalBudget
from forcegate.stores.models import AuditEvent
from forcegate.stores.protocols import AuditLog

__all__ = ["AuditWriter", "DecisionObserver"]

log = logging.getLogger("forcegate.audit")

MAX_QUEUE = 50_000

#: Told of every decision (the service's metrics and tracing), before the refusal budget, so a refusal
#: that is only counted is still observed: a refusal when its event is made, with its error (every
#: refusal's event is made to be written); an allowance when its event is written, since the token
#: endpoint makes its event before the single-use claim, which may still turn it into a replay.
DecisionObserver = Callable[[AuditEvent, ForcegateError | None], None]


class AuditWriter:
    def __init__(
        self,
        store: AuditLog,
        *,
        clock: Clock,
        flush_interval: float = 0.25,
        max_batch: int = 1000,
        unverified_limit: int = 0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._budget = RefusalBudget(unverified_limit)
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._queue: list[AuditEvent] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.observer: DecisionObserver | None = None

    def event(
        self,
        *,
        endpoint: str,
        credential: str,
        error: ForcegateError | None = None,
        org_id: str | None = None,
        user_id: str | None = None,
        subject: str | None = None,
        issuer: str | None = None,
        client: str | None = None,
    ) -> AuditEvent:
        """An event for a decision: allowed when ``error`` is None, else denied with its code and reason."""
        event = AuditEvent(
            at=self._clock.now(),
            endpoint=endpoint,
            credential=credential,
            result="allowed" if error is None else "denied",
            code="ok" if error is None else error.code,
            detail="" if error is None else error.reason[:500],
            verified=error is None or error.verified,
            org_id=org_id,
            user_id=user_id,
            subject=subject,
            issuer=issuer,
            client=client,
        )
        if error is not None and self.observer is not None:
            self.observer(event, error)
        return event

    def allowed(self, identity: Identity, *, endpoint: str, credential: str, client: str | None) -> AuditEvent:
        """The event for a credential accepted as ``identity``."""
        return self.event(
            endpoint=endpoint,
            credential=credential,
            org_id=identity.org_id,
            user_id=identity.user_id,
            subject=identity.username,
            issuer=identity.issuer,
            client=client,
        )

    async def write(self, event: AuditEvent) -> None:
        """Write now; a store failure propagates (the caller refuses the request). An unverified
        refusal past its client's budget is only counted (:class:`RefusalBudget`)."""
        self._allowed(event)
        if not self._budget.admit(event):
            return
        _log(event)
        await self._store.append([event])

    def recorded(self, event: AuditEvent) -> None:
        """Log an event its caller wrote in its own store write (a grant's, in the grant's transaction)."""
        self._allowed(event)
        _log(event)

    def enqueue(self, event: AuditEvent) -> None:
        """Queue for the next batch (an unverified refusal past its client's budget is only counted)."""
        self._allowed(event)
        if not self._budget.admit(event):
            return
        _log(event)
        if len(self._queue) >= MAX_QUEUE:
            # The store has been down long enough to fill the queue; keep memory bounded and say so.
            self.dropped += 1
            return
        self._queue.append(event)

    def _allowed(self, event: AuditEvent) -> None:
        """An allowance is observed once written (a refusal was, when :meth:`event` made it)."""
        if event.result == "allowed" and self.observer is not None:
            self.observer(event, None)

    async def flush(self) -> None:
        self._queue.extend(self._budget.summaries(self._clock.now()))
        while self._queue:
            # Taken off the queue before the write, so a flush running beside this one (the batch
            # task and an admin listing) never writes the same events twice; put back on failure.
            batch = self._queue[: self._max_batch]
            del self._queue[: len(batch)]
            try:
                await self._store.append(batch)
            except ForcegateError as exc:
                self._queue[:0] = batch
                log.warning("audit batch of %d events not written yet: %s", len(batch), exc)
                return
            except BaseException:
                self._queue[:0] = batch
                raise

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            await self.flush()


def _log(event: AuditEvent) -> None:
    if log.isEnabledFor(logging.INFO):
        # The event rides along (``audit_event``) for the formatters that write its fields one by
        # one (forcegate.server.logs: JSON, or one line per decision); the message is for any other.
        log.info(
            "%s %s %s org=%s user=%s code=%s %s",
            event.result,
            event.credential,
            event.endpoint,
            event.org_id,
            event.user_id,
            event.code,
            event.detail,
            extra={"audit_event": event},
        )
