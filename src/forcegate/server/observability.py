"""What the service tells operators about itself while serving: Prometheus metrics and OpenTelemetry spans.

Three kinds of events are observed, each at one place: an HTTP request (by :class:`ForcegateApp`,
around its whole dispatch), an authentication decision (by the audit writer, as it is made) and a
store call (by :func:`forcegate.stores.instrumented.instrument`). :class:`Observability` holds the
observers the settings switch on (``metrics``, ``tracing``) and hands each hook one callable, so a
request with neither costs nothing and one with both calls each once.

Labels are bounded by construction (decision 0015): an endpoint is the route's path template
(``/canvas/{consumer_key}``), never the requested path; anything that matches no route is ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.routing import Route

from forcegate.errors import ForcegateError, StoreUnavailable
from forcegate.server._asgi import Scope
from forcegate.server.endpoints.hot import ME_ENDPOINT
from forcegate.service.audit import DecisionObserver
from forcegate.settings import Settings
from forcegate.stores.instrumented import StoreObserver
from forcegate.stores.models import AuditEvent

if TYPE_CHECKING:
    from forcegate.server.metrics import ServiceMetrics

__all__ = [
    "METRICS_PATH",
    "EndpointLabels",
    "Observability",
    "RequestObserver",
    "is_store_failure",
    "method_label",
    "start_observability",
]

METRICS_PATH = "/metrics"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path
#: Request methods used as a label as they are; any other is ``other`` (a client chooses the method).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: How many distinct paths matched by a pattern are remembered (an attacker's random paths are not).
_CACHE_LIMIT = 4096


class EndpointLabels:
    """The label of a request path: its route's path template, or ``other``."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._exact: dict[str, str] = {TOKEN_PATH: TOKEN_PATH, ME_ENDPOINT: ME_ENDPOINT, METRICS_PATH: METRICS_PATH}
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        for route in routes:
            if route.param_convertors:
                self._patterns.append((route.path_regex, route.path))
            else:
                self._exact.setdefault(route.path, route.path)
        self._matched: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        label = self._exact.get(path) or self._matched.get(path)
        if label is not None:
            return label
        for pattern, template in self._patterns:
            if pattern.match(path):
                if len(self._matched) < _CACHE_LIMIT:
                    self._matched[path] = template
                return template
        return "other"


def is_store_failure(error: BaseException) -> bool:
    """A store that was down or broke, not a store's answer (a NotFound, a duplicate) nor a cancel."""
    if isinstance(error, StoreUnavailable):
        return True
    return isinstance(error, Exception) and not isinstance(error, ForcegateError)


def method_label(scope: Scope) -> str:
    method: str = scope["method"]
    return method if method in METHODS else "other"


class RequestObserver(Protocol):
    """Told of each HTTP request: :meth:`begin` before it is dispatched, :meth:`end` once answered."""

    def begin(self, scope: Scope) -> Any: ...
    def end(self, handle: Any, scope: Scope, status: int) -> None: ...


class Observability:
    """The observers the settings switch on, and one hook of each kind for the service to call."""

    def __init__(self, observers: Iterable[Any], *, metrics: ServiceMetrics | None = None) -> None:
        self.metrics = metrics
        self.observers = tuple(observers)
        # Each observer is both a request and a store observer: one of them is used as it is, several
        # through one object that calls each in turn.
        combined: Any = (
            None if not self.observers else self.observers[0] if len(self.observers) == 1 else _All(self.observers)
        )
        self.request: RequestObserver | None = combined
        self.store: StoreObserver | None = combined
        self.decision: DecisionObserver | None = _combined_decisions(self.observers)

    def start(self) -> None:
        """Start what the observers run beside the requests (from the event loop)."""
        for observer in self.observers:
            start = getattr(observer, "start", None)
            if start is not None:
                start()

    def close(self) -> None:
        for observer in self.observers:
            close = getattr(observer, "close", None)
            if close is not None:
                close()


def start_observability(settings: Settings, routes: Iterable[Route]) -> Observability:
    """The observers ``settings`` switch on (``metrics``, ``tracing``), for an application with ``routes``."""
    labels = EndpointLabels(routes)
    observers: list[Any] = []
    metrics = None
    if settings.metrics:
        from forcegate.server.metrics import ServiceMetrics  # prometheus-client: loaded only when used

        metrics = ServiceMetrics(labels)
        observers.append(metrics)
    if settings.tracing:
        from forcegate.server.tracing import Tracing  # OpenTelemetry: the [otel] extra

        observers.append(Tracing(labels))
    return Observability(observers, metrics=metrics)


def _combined_decisions(observers: tuple[Any, ...]) -> DecisionObserver | None:
    hooks: list[DecisionObserver] = [observer.decision for observer in observers]
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]

    def every(event: AuditEvent, error: ForcegateError | None) -> None:
        for hook in hooks:
            hook(event, error)

    return every


class _All:
    """Several observers as one, for requests and store calls alike."""

    def __init__(self, observers: tuple[Any, ...]) -> None:
        self._observers = observers

    def begin(self, scope: Scope) -> Any:
        return [observer.begin(scope) for observer in self._observers]

    def end(self, handle: Any, scope: Scope, status: int) -> None:
        # In reverse: a span opened first (made current) is closed last.
        for observer, each in zip(reversed(self._observers), reversed(handle), strict=True):
            observer.end(each, scope, status)

    def store_begin(self, store: str, operation: str) -> Any:
        return [observer.store_begin(store, operation) for observer in self._observers]

    def store_end(self, handle: Any, store: str, operation: str, error: BaseException | None) -> None:
        for observer, each in zip(reversed(self._observers), reversed(handle), strict=True):
            observer.store_end(each, store, operation, error)
