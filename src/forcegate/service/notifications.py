"""Notifications to ``FORCEGATE_NOTIFY_URL``: noticing events, and delivering them from the outbox.

Every worker of every host runs one :class:`Notifier` beside its requests (started by the server's
lifespan only when ``notify_url`` is set), never on a request's path:

* **the scan** (every :data:`SCAN_INTERVAL`): certificates that crossed 30, 7 or 1 days before expiry
  and enrollments waiting for the ISV's approval become outbox rows. Ids are deterministic, so the
  scans of N workers insert each event once (:meth:`NotificationStore.enqueue`);
* **the delivery** (polled every :data:`POLL_INTERVAL`): due rows are claimed — one compare-and-set
  with a lease, so one worker sends each — and POSTed; 2xx is delivered, anything else is retried
  with exponential backoff (:class:`RetryPolicy`) until the event is :attr:`RetryPolicy.give_up_after`
  old, then marked failed, logged and counted. ``forcegate notifications retry`` sends it again.

A receiver that is down, slow or wrong, and a store that fails, cost this task time and log lines:
every step catches and logs its failure, the next round tries again, and requests never wait for it.
Delivery is at least once: a worker that stops between the receiver's 2xx and the store's update
leaves the event to be sent again when its lease ends, so receivers drop ids they have seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from forcegate import __version__
from forcegate.clock import Clock, SystemClock
from forcegate.errors import RegistryError
from forcegate.service.notification_events import (
    CERTIFICATE_EXPIRING,
    DAY,
    ENROLLMENT_PENDING_APPROVAL,
    EXPIRY_THRESHOLDS,
    SIGNATURE_HEADER,
    certificate_event_id,
    certificate_expiring,
    enrollment_event_id,
    enrollment_pending_approval,
    expiry_threshold,
    sign,
)
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores
from forcegate.stores.notification_rows import Notification, NotificationState

if TYPE_CHECKING:  # httpx is the [server] extra: loaded when a notifier runs, not by the CLI
    import httpx

__all__ = [
    "NOTIFICATION_RESULTS",
    "POLL_INTERVAL",
    "SCAN_INTERVAL",
    "NotificationObserver",
    "Notifier",
    "RetryPolicy",
    "list_notifications",
    "retry_failed",
    "retry_notification",
    "url_origin",
]

log = logging.getLogger("forcegate.notifications")

#: Seconds between two scans of the registry by one worker.
SCAN_INTERVAL = 60.0
#: Seconds between two looks at the outbox when it had nothing due.
POLL_INTERVAL = 1.0
#: Seconds between two purges of old delivered and failed rows by one worker, and how long they stay.
PURGE_INTERVAL = 3600.0
RETENTION = 90 * DAY
#: Notifications one worker sends at once (each bounded by ``notify_timeout``).
BATCH = 10
#: How many rows one scan reads per query (the loop is let go between two).
SCAN_PAGE = 200
#: A store failure is logged again after this long, while it lasts (not every second).
REPEAT_FAILURE_LOG = 300.0
#: The values of ``forcegate_notifications_total``'s ``result`` label.
NOTIFICATION_RESULTS = ("enqueued", "delivered", "retried", "abandoned")

#: Told of outcomes: ``(event_type, result, how_many)``, result one of :data:`NOTIFICATION_RESULTS` (the metrics).
NotificationObserver = Callable[[str, str, int], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again: ``first_delay`` seconds after the first failure, doubling up to ``max_delay``,
    each delay shortened by up to a fifth (spread per event, so a receiver back from an outage is not
    hit by every event at the same second); a ``Retry-After`` the receiver sends is honoured up to
    ``max_delay``. An event still undelivered ``give_up_after`` seconds after it was noticed gets one
    last attempt, then is failed."""

    first_delay: float = 2.0
    max_delay: float = 3600.0
    give_up_after: float = DAY

    def next_attempt(self, notification: Notification, now: float, retry_after: float | None = None) -> float | None:
        """When to try ``notification`` again after its attempt number ``attempts`` failed at ``now``;
        None to give up."""
        if now >= notification.give_up_at:
            return None
        exponent = min(max(notification.attempts - 1, 0), 40)
        delay = min(self.max_delay, self.first_delay * 2.0**exponent)
        spread = hashlib.sha256(f"{notification.event_id}\x00{notification.attempts}".encode()).digest()[0] / 255
        delay *= 1 - 0.2 * spread
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return min(now + delay, notification.give_up_at)


class Notifier:
    """One worker's scan and delivery loop (see the module docstring). ``client`` is for the tests
    (an ``httpx.AsyncClient`` on a mock transport); by default :meth:`run` makes its own."""

    def __init__(
        self,
        stores: Stores,
        settings: Settings,
        *,
        clock: Clock | None = None,
        client: httpx.AsyncClient | None = None,
        observer: NotificationObserver | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        if settings.notify_url is None:
            raise ValueError("a Notifier needs settings.notify_url")
        self._store = stores.notifications
        self._settings = settings
        self._url = settings.notify_url
        self._clock = clock or SystemClock()
        self._client = client
        self._observer = observer
        self.policy = policy or RetryPolicy()
        # Past the lease a claimed event is due again: longer than any attempt can take (the whole
        # request is bounded by notify_timeout), so a live sender always finishes first.
        self._lease = 2.0 * settings.notify_timeout + 30.0
        self._failures: dict[str, tuple[str, float]] = {}  # step -> (last error logged, when)

    # --- the scan ---------------------------------------------------------------------------------

    async def scan(self) -> int:
        """Put what has happened since the last scan in the outbox; how many events were new.

        Page by page, building only the events the outbox does not hold yet (a scan that finds
        nothing new reads and writes nothing else), and letting requests in between pages: the
        embedded SQLite reads on the event loop.
        """
        now = self._clock.now()
        horizon = now + max(EXPIRY_THRESHOLDS) * DAY
        new = 0
        after: tuple[float, int] | None = None
        while True:
            page = await self._store.expiring_certificates(now, horizon, after=after, limit=SCAN_PAGE)
            crossed = {}
            for record in page:
                threshold = expiry_threshold(record.not_after, now)
                if threshold is not None:
                    crossed[certificate_event_id(record, threshold)] = (record, threshold)
            unknown = await self._store.unknown_event_ids(list(crossed))
            events = [
                certificate_expiring(record, threshold=threshold, now=now, **self._event_terms)
                for event_id, (record, threshold) in crossed.items()
                if event_id in unknown
            ]
            new += await self._enqueue(CERTIFICATE_EXPIRING, events)
            if len(page) < SCAN_PAGE:
                break
            after = (page[-1].not_after, page[-1].id)
            await asyncio.sleep(0)
        waiting: tuple[float, str] | None = None
        while True:
            enrollments = await self._store.pending_approvals(after=waiting, limit=SCAN_PAGE)
            unknown = await self._store.unknown_event_ids([enrollment_event_id(e) for e in enrollments])
            events = [
                enrollment_pending_approval(e, now=now, **self._event_terms)
                for e in enrollments
                if enrollment_event_id(e) in unknown
            ]
            new += await self._enqueue(ENROLLMENT_PENDING_APPROVAL, events)
            if len(enrollments) < SCAN_PAGE:
                break
            waiting = (enrollments[-1].created_at, enrollments[-1].enrollment_id)
            await asyncio.sleep(0)
        return new

    @property
    def _event_terms(self) -> dict[str, Any]:
        return {"source": self._settings.public_url, "give_up_after": self.policy.give_up_after}

    async def _enqueue(self, event_type: str, events: list[Notification]) -> int:
        added = await self._store.enqueue(events) if events else 0
        if added:  # another worker may have inserted some first: only ours are counted here
            log.info("notifications: %d new %s event(s)", added, event_type)
            self._count(event_type, "enqueued", added)
        return added

    # --- the delivery -----------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Claim the events due now and send them (at most :data:`BATCH`, concurrently); how many were sent."""
        client = self._client
        if client is None:
            raise RuntimeError("deliver_due() runs inside run(), or with a client given")
        now = self._clock.now()
        claim = secrets.token_hex(16)
        batch = await self._store.claim_due(now, lease_until=now + self._lease, claim=claim, limit=BATCH)
        if batch:
            await asyncio.gather(*(self._deliver(client, event, claim) for event in batch))
        return len(batch)

    async def _deliver(self, client: httpx.AsyncClient, event: Notification, claim: str) -> None:
        try:
            status, retry_after = await self._post(client, event)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except Exception as exc:  # a transport error, a timeout, a malformed answer: the receiver's problem
            error, retry_after = self._describe(exc), None
        now = self._clock.now()
        try:
            if error is None:
                await self._store.mark_delivered(event.event_id, now=now)
                log.info("notification %s delivered (attempt %d)", event.event_id, event.attempts)
                self._count(event.event_type, "delivered")
                return
            retry_at = self.policy.next_attempt(event, now, retry_after)
            await self._store.mark_failed(event.event_id, claim, now=now, error=error, retry_at=retry_at)
        except Exception as exc:  # the store failed: the lease ends, and the event is tried again
            log.warning("notification %s: cannot record the attempt's outcome: %s", event.event_id, exc)
            return
        if retry_at is None:
            log.error(
                "notification %s abandoned after %d attempts (%s); `forcegate notifications retry %s` sends it again",
                event.event_id,
                event.attempts,
                error,
                event.event_id,
            )
            self._count(event.event_type, "abandoned")
        else:
            log.warning(
                "notification %s to %s failed (attempt %d: %s); next attempt in %.0f s",
                event.event_id,
                url_origin(self._url),
                event.attempts,
                error,
                retry_at - now,
            )
            self._count(event.event_type, "retried")

    async def _post(self, client: httpx.AsyncClient, event: Notification) -> tuple[int, float | None]:
        """POST the event; the status and the ``Retry-After`` seconds. The whole exchange is bounded
        by ``notify_timeout``; the answer's body is not read."""
        body = event.payload.encode("utf-8")
        headers = {
            "content-type": "application/json",
            "user-agent": f"forcegate/{__version__}",
            "forcegate-event-id": event.event_id,
            "forcegate-event-type": event.event_type,
            "forcegate-attempt": str(event.attempts),
        }
        secret = self._settings.notify_secret
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(secret, int(self._clock.now()), body)
        async with asyncio.timeout(self._settings.notify_timeout):
            async with client.stream("POST", self._url, content=body, headers=headers) as response:
                return response.status_code, _retry_after(response.headers.get("retry-after"))

    def _describe(self, exc: BaseException) -> str:
        """The error for the log and the outbox: its kind and message, never the URL's path or query
        (a receiver's URL may carry its token)."""
        text = str(exc).replace(self._url, url_origin(self._url))
        name = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return f"{name}: {text}" if text else name

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Scan, deliver and purge until cancelled (at shutdown). Never raises but for cancellation."""
        if self._client is not None:
            await self._loop()
            return
        import httpx  # the [server] extra, which forcegate serve has

        # No redirects (a signed body goes where it was configured to, nowhere else); proxies from
        # the environment apply, as an egress proxy is how many deployments reach the outside.
        timeout = httpx.Timeout(self._settings.notify_timeout)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            self._client = client
            try:
                await self._loop()
            finally:
                self._client = None

    async def _loop(self) -> None:
        log.info("notifications to %s: on", url_origin(self._url))
        next_scan = next_purge = 0.0
        while True:
            moment = time.monotonic()
            if moment >= next_scan:
                next_scan = moment + SCAN_INTERVAL
                await self._guarded("scan", self.scan)
            if moment >= next_purge:
                next_purge = moment + PURGE_INTERVAL
                await self._guarded("purge", self.purge)
            sent = await self._guarded("delivery", self.deliver_due)
            if not sent:
                await asyncio.sleep(POLL_INTERVAL)

    async def purge(self) -> int:
        """Forget delivered and failed events older than :data:`RETENTION`."""
        return await self._store.purge_notifications(self._clock.now() - RETENTION)

    async def _guarded(self, step: str, action: Callable[[], Awaitable[int]]) -> int:
        """Run one step; a failure (a store that is down) is logged — once, then every few minutes
        while it lasts — and the loop goes on."""
        try:
            result = await action()
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            last = self._failures.get(step)
            now = time.monotonic()
            if last is None or last[0] != message or now - last[1] >= REPEAT_FAILURE_LOG:
                log.warning("notifications: the %s failed: %s", step, message)
                self._failures[step] = (message, now)
            return 0
        if self._failures.pop(step, None) is not None:
            log.info("notifications: the %s works again", step)
        return result

    def _count(self, event_type: str, result: str, amount: int = 1) -> None:
        if self._observer is not None:
            self._observer(event_type, result, amount)


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (RFC 9110 §10.2.3); the HTTP-date form is ignored (the backoff applies)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what is logged of the receiver (its path may be a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


# --- the outbox, for the CLI ----------------------------------------------------------------------


async def list_notifications(
    stores: Stores, *, states: Sequence[NotificationState] = (), limit: int = 100
) -> Sequence[Notification]:
    """The outbox, most recently changed first."""
    return await stores.notifications.list_notifications(states=states, limit=limit)


async def retry_notification(
    stores: Stores, event_id: str, *, clock: Clock | None = None, policy: RetryPolicy | None = None
) -> Notification:
    """Send a failed event again (or a waiting one now), with a fresh attempt budget."""
    now = (clock or SystemClock()).now()
    give_up = (policy or RetryPolicy()).give_up_after
    return await stores.notifications.retry_notification(event_id, now=now, give_up_at=now + give_up)


async def retry_failed(
    stores: Stores, *, clock: Clock | None = None, policy: RetryPolicy | None = None
) -> list[Notification]:
    """:func:`retry_notification` for every failed event (the 1000 most recent); those retried."""
    retried = []
    for failed in await stores.notifications.list_notifications(states=["failed"], limit=1000):
        with contextlib.suppress(RegistryError):  # changed in between (another operator retried it)
            retried.append(await retry_notification(stores, failed.event_id, clock=clock, policy=policy))
    return retried
