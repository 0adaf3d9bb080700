"""Prometheus metrics: what the service counts and times, and the ``/metrics`` endpoint that exposes it.

Names follow Prometheus's conventions (``forcegate_`` prefix, base units, ``_total`` counters,
``_seconds`` histograms); decision 0015 lists them and why each label is bounded.

The counters and histograms are forcegate's own (:mod:`forcegate.server.metric_series`: counted
without locks on the event loop, exposed through prometheus-client at scrape time). With several
worker processes (``forcegate serve --workers N``) a scrape reaches one worker: each writes its values
to a file of its own in ``PROMETHEUS_MULTIPROC_DIR`` every second (``forcegate serve`` sets up a
fresh folder for the run), and the worker that answers sums them all with its own. The registry's
gauges (certificates close to expiry) are read from the database at scrape time, so every worker
reports the same values without sharing them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import Response

from forcegate import __version__
from forcegate._security import secret_matches
from forcegate.errors import AuthenticationRequired, ForcegateError, RateLimited, StoreUnavailable
from forcegate.server._asgi import Scope
from forcegate.server.metric_series import Series, SharedSeries
from forcegate.server.observability import EndpointLabels, is_store_failure, method_label
from forcegate.server.request import credentials, local_path
from forcegate.server.runtime import runtime
from forcegate.service.notification_events import EVENT_TYPES
from forcegate.service.notifications import NOTIFICATION_RESULTS
from forcegate.stores.models import OPEN_ENROLLMENT_STATES, AuditEvent

__all__ = ["EXPIRY_DAYS", "MULTIPROCESS_VARIABLE", "ServiceMetrics", "metrics_endpoint", "multiprocess_dir"]

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: ``forcegate_certificates_expiring{within_days=…}``: 0 is "already expired".
EXPIRY_DAYS = (0, 7, 30, 90)
# A token request is a few hundred microseconds; a slow store or a queue of requests, seconds.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
#: Decisions that spend a single-use assertion (a grant, a direct JWT): their claims are counted.
SINGLE_USE = frozenset({"jwt-bearer", "jwt"})
DAY = 86_400
#: How often a worker writes its values for the others (a scrape may see another's a second late).
SHARE_INTERVAL = 1.0
#: Distinct (path, method, status) remembered with their labels; beyond, labels are worked out again.
MAX_REMEMBERED = 4096

log = logging.getLogger("forcegate.server")


def multiprocess_dir() -> str | None:
    """The multiprocess folder of this process, if prometheus-client writes its values to one."""
    return os.environ.get(MULTIPROCESS_VARIABLE) or os.environ.get(MULTIPROCESS_VARIABLE.lower()) or None


class ServiceMetrics:
    """The metrics of one application: request, decision, store and registry figures."""

    def __init__(self, labels: EndpointLabels) -> None:
        self._labels = labels
        folder = multiprocess_dir()
        self.series = series = Series()
        self._shared = None if folder is None else SharedSeries(series, Path(folder))
        self._sharing: asyncio.Task[None] | None = None
        # What every scrape renders, set up once (a registry of its own, not prometheus-client's global
        # one: an application built twice in one process never clashes with another's names).
        self._registry = CollectorRegistry(auto_describe=False)
        if folder is None:
            # Per-process figures mean nothing summed over workers: only a single process reports them.
            ProcessCollector(registry=self._registry)
            PlatformCollector(registry=self._registry)
            GCCollector(registry=self._registry)
        self._registry.register(self)
        self.requests = series.counter(
            "forcegate_http_requests",
            "HTTP requests answered, by endpoint (route template), method and status.",
            ["endpoint", "method", "status"],
        )
        self.request_duration = series.histogram(
            "forcegate_http_request_duration_seconds",
            "Time from a request's dispatch to its answer, by endpoint (route template).",
            ["endpoint"],
            REQUEST_BUCKETS,
        )
        self.decisions = series.counter(
            "forcegate_decisions",
            "Authentication decisions, by endpoint, credential kind, result (allowed/denied) and code.",
            ["endpoint", "credential", "result", "code"],
        )
        self.replay_claims = series.counter(
            "forcegate_replay_claims",
            "Single-use assertions presented: accepted (claimed now) or replayed (claimed before).",
            ["result"],
        )
        self.rate_limited = series.counter(
            "forcegate_rate_limited",
            "Requests refused by a rate limit: assertions (token_rate_limit) or failures (failure_rate_limit).",
            ["limit"],
        )
        self.store_duration = series.histogram(
            "forcegate_store_operation_duration_seconds",
            "Time of each store call, by store and operation.",
            ["store", "operation"],
            STORE_BUCKETS,
        )
        self.store_errors = series.counter(
            "forcegate_store_errors",
            "Store calls that failed (the store was unavailable or broke), by store and operation.",
            ["store", "operation"],
        )
        self.notifications = series.counter(
            "forcegate_notifications",
            "Notifications to notify_url, by event type and result: enqueued (noticed first by this worker), "
            "delivered, retried (an attempt failed) or abandoned (given up).",
            ["type", "result"],
        )
        for result in ("accepted", "replayed"):  # present from the start, so a rate() has a base
            self.replay_claims.inc((result,), 0)
        for limit in ("assertions", "failures"):
            self.rate_limited.inc((limit,), 0)
        for event_type in EVENT_TYPES:  # an alert on "abandoned" needs the series before the first one
            for outcome in NOTIFICATION_RESULTS:
                self.notifications.inc((event_type, outcome), 0)
        # Label tuples of the requests seen, so the hot path builds none: (path, method, status) -> key.
        self._request_keys: dict[tuple[str, str, int], tuple[tuple[str, str, str], tuple[str]]] = {}

    def start(self) -> None:
        """With workers sharing a folder: write this one's values every second (from the event loop)."""
        if self._shared is not None and self._sharing is None:
            self._shared.write()
            self._sharing = asyncio.get_running_loop().create_task(self._share())

    def close(self) -> None:
        if self._sharing is not None:
            self._sharing.cancel()
            self._sharing = None
        if self._shared is not None:
            self._shared.write()  # the last values of a worker that stops stay counted

    async def _share(self) -> None:
        assert self._shared is not None
        while True:
            await asyncio.sleep(SHARE_INTERVAL)
            try:
                self._shared.write()
            except OSError as exc:  # a full disk must not stop the service; the scrape shows stale values
                log.warning("cannot write this worker's metrics to %s: %s", multiprocess_dir(), exc)

    # --- requests ------------------------------------------------------------------------------------

    def begin(self, scope: Scope) -> float:
        return time.perf_counter()

    def end(self, handle: float, scope: Scope, status: int) -> None:
        elapsed = time.perf_counter() - handle
        path = local_path(scope)
        seen = (path, scope["method"], status)
        keys = self._request_keys.get(seen)
        if keys is None:
            endpoint = self._labels(path)
            keys = ((endpoint, method_label(scope), str(status)), (endpoint,))
            if len(self._request_keys) < MAX_REMEMBERED:  # a client's random paths are not all kept
                self._request_keys[seen] = keys
        self.requests.inc(keys[0])
        self.request_duration.observe(keys[1], elapsed)

    # --- decisions -----------------------------------------------------------------------------------

    def decision(self, event: AuditEvent, error: ForcegateError | None) -> None:
        self.decisions.inc((self._labels(event.endpoint), event.credential, event.result, event.code))
        if error is None:
            if event.credential in SINGLE_USE:
                self.replay_claims.inc(("accepted",))
        elif error.code == "assertion_replayed":
            self.replay_claims.inc(("replayed",))
        elif isinstance(error, RateLimited):
            self.rate_limited.inc((error.limit,))

    # --- notifications (a NotificationObserver) -------------------------------------------------------

    def notification(self, event_type: str, result: str, amount: int = 1) -> None:
        self.notifications.inc((event_type, result), amount)

    # --- store calls (a StoreObserver) ----------------------------------------------------------------

    def store_begin(self, store: str, operation: str) -> float:
        return time.perf_counter()

    def store_end(self, handle: float, store: str, operation: str, error: BaseException | None) -> None:
        self.store_duration.observe((store, operation), time.perf_counter() - handle)
        if error is not None and is_store_failure(error):
            self.store_errors.inc((store, operation))

    # --- exposition ----------------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """This worker's series summed with the other workers' latest (prometheus-client's collector API)."""
        return self.series.collect([] if self._shared is None else self._shared.others())

    def exposition(self, expiring: Sequence[int] | None, pending: Mapping[str, int] | None = None) -> bytes:
        """The text format: this worker's figures summed with the others' (if any), then the registry's."""
        snapshot = CollectorRegistry(auto_describe=False)
        snapshot.register(_RegistryGauges(expiring, pending))
        return generate_latest(self._registry) + generate_latest(snapshot)


class _RegistryGauges:
    """The figures read from the registry for one scrape, and the build's."""

    def __init__(self, expiring: Sequence[int] | None, pending: Mapping[str, int] | None = None) -> None:
        self._expiring = expiring
        self._pending = pending

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("forcegate_build_info", "The forcegate version serving.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        readable = GaugeMetricFamily(
            "forcegate_registry_readable", "Whether the registry could be read for this scrape (1) or not (0)."
        )
        readable.add_metric([], 0 if self._expiring is None else 1)
        yield readable
        if self._expiring is None:
            return
        expiring = GaugeMetricFamily(
            "forcegate_certificates_expiring",
            "Active certificates of enabled orgs that expire within this many days (0: already expired).",
            labels=["within_days"],
        )
        for days, count in zip(EXPIRY_DAYS, self._expiring, strict=True):
            expiring.add_metric([str(days)], count)
        yield expiring
        if self._pending is None:
            return
        pending = GaugeMetricFamily(
            "forcegate_enrollments_pending",
            "Open subscriber enrollments: waiting for the org's proof (pending_proof, approved) or the ISV.",
            labels=["state"],
        )
        for state in OPEN_ENROLLMENT_STATES:
            pending.add_metric([state], self._pending.get(state, 0))
        yield pending


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the Prometheus text format; with ``metrics_token`` set, only for its bearer."""
    state = runtime(request.scope)
    metrics = state.metrics
    assert metrics is not None  # routed only when metrics are on (routes() and the runtime read one setting)
    expected = state.settings.metrics_token
    if expected is not None:
        # The service's one Authorization grammar: a malformed Bearer header is 400, another scheme 401.
        sent = credentials(request.scope).bearer()
        if not secret_matches(sent, expected):
            raise AuthenticationRequired("the metrics token is required (Authorization: Bearer <metrics_token>)")
    service = state.service
    now = service.clock.now()
    try:
        expiring: Sequence[int] | None = await service.stores.trust.certificates_expiring(
            [now + days * DAY for days in EXPIRY_DAYS]
        )
        pending: Mapping[str, int] | None = await service.stores.enrollments.enrollment_counts()
    except StoreUnavailable:
        # The process's own figures still count; forcegate_registry_readable says why not these.
        expiring, pending = None, None
    return Response(
        metrics.exposition(expiring, pending), media_type=CONTENT_TYPE_LATEST, headers={"cache-control": "no-store"}
    )
