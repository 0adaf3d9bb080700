"""Revocation through the service's RFC 7662 introspection endpoint, remembered for a short while."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from forcegate.clock import Clock
from forcegate.core._bounded import remember
from forcegate.core.access_token import VerifiedAccessToken
from forcegate.errors import StoreUnavailable

if TYPE_CHECKING:
    import httpx

__all__ = ["Introspection"]

#: Answers remembered at once (the oldest dropped first).
MAX_ENTRIES = 10_000


class Introspection:
    """Asks ``url`` whether a verified token is still active, with ``token`` as bearer credential.

    An answer (active or not: an org disabled now may be enabled again) is remembered by the token's
    ``jti`` for ``cache`` seconds, never past the token's expiry; 0 asks every time. A service that does
    not answer, or answers without a boolean ``active``, is :class:`StoreUnavailable` (fails closed).
    """

    def __init__(self, url: str, token: str, *, cache: float, leeway: int, clock: Clock) -> None:
        self.url = url
        self._token = token
        self._ttl = cache
        self._leeway = leeway
        self._clock = clock
        self._answers: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._lock = threading.Lock()  # read by the callers' threads, written on the loop

    def __repr__(self) -> str:
        return f"Introspection(url={self.url!r})"

    def remembered(self, jti: str, now: float) -> bool | None:
        """The remembered answer for ``jti``, or None when there is none (or it is too old)."""
        with self._lock:
            found = self._answers.get(jti)
        if found is None or now >= found[1]:
            return None
        return found[0]

    async def ask(
        self, client: httpx.AsyncClient, token: str, verified: VerifiedAccessToken, *, max_bytes: int, timeout: float
    ) -> bool:
        """Whether the service says ``token`` is active; remembered (see the class docstring)."""
        from forcegate.resource._http import read_json

        answer = await read_json(
            client,
            self.url,
            what="the introspection endpoint",
            max_bytes=max_bytes,
            timeout=timeout,
            form={"token": token, "token_type_hint": "access_token"},
            bearer=self._token,
        )
        active = answer.get("active") if isinstance(answer, dict) else None
        if not isinstance(active, bool):
            raise StoreUnavailable(f"the introspection endpoint at {self.url} answered without a boolean 'active'")
        if self._ttl:
            until = min(self._clock.now() + self._ttl, verified.expires_at + self._leeway)
            with self._lock:
                remember(self._answers, verified.jti, (active, until), MAX_ENTRIES)
        return active
