"""What every resource verifier offers a framework adapter (Django, DRF, Flask …)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from forcegate.core.identity import Identity

__all__ = ["DEFAULT_ENDPOINT", "Verifier"]

#: The endpoint an audit row or log line names when the adapter does not pass the request's path.
DEFAULT_ENDPOINT = "forcegate.resource"


class Verifier(Protocol):
    """Verifies a request's credentials; both :class:`JWKSVerifier` and :class:`RegistryVerifier` are one.

    An adapter copies two values out of the request — the ``Authorization`` header and the value of
    the ``forcegate_session`` cookie (:data:`SESSION_COOKIE`) — and passes the client's address (as its
    framework resolved it behind trusted proxies) and the request's path for the audit log. It gets the
    :class:`~forcegate.core.Identity`, or a :class:`Refusal` to render. ``verify`` may be called from
    any thread (no event loop needed); ``averify`` from any event loop.
    """

    def verify(
        self,
        authorization: str | None,
        *,
        session: str | None = None,
        scopes: Collection[str] = (),
        client: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> Identity:
        """The identity behind the credentials, with every one of ``scopes`` granted; else :class:`Refusal`."""
        ...

    async def averify(
        self,
        authorization: str | None,
        *,
        session: str | None = None,
        scopes: Collection[str] = (),
        client: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> Identity:
        """:meth:`verify`, awaited."""
        ...

    def close(self) -> None:
        """Release what the verifier opened (its loop thread, connections); also done at exit."""
        ...

    async def aclose(self) -> None:
        """:meth:`close`, awaited."""
        ...
