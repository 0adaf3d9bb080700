"""Failed attempts, counted per client address and claimed org: past a bound, refusals become 429.

Keyed on (client address, the org the credential *claims*) and counting refusals only. Apex callouts
leave from Salesforce's shared address ranges, and what a credential claims costs nothing to write:
anyone on those addresses can push a pair over the bound. So the bound never refuses a credential
that verifies — a verified org is never throttled by its address — it only changes how a refusal is
answered: past ``failure_rate_limit`` in the current minute, a refused attempt of the pair gets 429
with ``Retry-After`` (:meth:`FailureLimiter.instead`) and tells the sender nothing more about why.
The work one attempt can cause is bounded elsewhere (request sizes, ``canvas_max_secrets``), and
so are the audit rows unverified refusals write (:mod:`forcegate.service.refusal_budget`). The admin
credential is the exception: it is no org's, so a pair ``(address, None)`` over the bound is refused
before the token is even compared (:meth:`FailureLimiter.check`).

The counts live in-process by default (each worker counts its own: the bound is per worker) and in
Redis when the deployment has one (shared by every worker and host). Either way the check costs no
store access: the counter is only written on a refusal, and a pair found over the bound is remembered
in this process until its window ends — another worker learns of it on its own next refusal.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from forcegate.clock import Clock
from forcegate.errors import (
    ConfigurationError,
    ForcegateError,
    NoCredentials,
    RateLimited,
    SalesforceUnavailable,
    StoreUnavailable,
)
from forcegate.stores.protocols import RateCounter

__all__ = ["WINDOW", "FailureLimiter", "counts_as_failure"]

WINDOW = 60
#: Pairs tracked in-process at once (counts, and pairs known to be over the bound).
MAX_PAIRS = 100_000


def counts_as_failure(exc: ForcegateError) -> bool:
    """A refusal of the caller's attempt, not the service's own trouble nor a limit already applied."""
    return not isinstance(
        exc, StoreUnavailable | SalesforceUnavailable | ConfigurationError | RateLimited | NoCredentials
    )


class FailureLimiter:
    def __init__(self, limit: int, *, clock: Clock, shared: RateCounter | None = None) -> None:
        self._limit = limit
        self._clock = clock
        self._shared = shared
        self._counts: OrderedDict[tuple[str | None, str | None, float], int] = OrderedDict()
        self._blocked: dict[tuple[str | None, str | None], float] = {}

    @property
    def active(self) -> bool:
        """Whether any pair is over the bound now: callers skip working out the claimed org otherwise."""
        return bool(self._blocked)

    def check(self, client: str | None, org_id: str | None) -> None:
        """:class:`RateLimited` while (``client``, ``org_id``) is over the bound."""
        limited = self._limited(client, org_id)
        if limited is not None:
            raise limited

    def instead(self, refusal: ForcegateError, client: str | None, org_id: str | None) -> ForcegateError:
        """What to answer for ``refusal``: :class:`RateLimited` while the pair is over the bound (and
        the refusal is the caller's failure), else ``refusal`` itself."""
        if not self._blocked or not counts_as_failure(refusal):
            return refusal
        limited = self._limited(client, org_id, because=refusal)
        return refusal if limited is None else limited

    def _limited(
        self, client: str | None, org_id: str | None, *, because: ForcegateError | None = None
    ) -> RateLimited | None:
        until = self._blocked.get((client, org_id))
        if until is None:
            return None
        now = self._clock.now()
        if now >= until:
            del self._blocked[(client, org_id)]
            return None
        reason = f"{self._limit} failed attempts in a minute from {client} for org {org_id or '(none named)'}"
        limited = RateLimited(
            reason if because is None else f"{reason}; this one: {because.code}: {because.reason}",
            retry_after=max(1, math.ceil(until - now)),
            limit="failures",
        )
        # What was verified of the attempt itself (a 429 here proves nothing about the sender).
        limited.verified = because.verified if because is not None else False
        return limited

    async def record(self, client: str | None, org_id: str | None) -> None:
        """Count one refused attempt; past the bound, the pair is refused until the window ends."""
        if not self._limit:
            return
        now = self._clock.now()
        window = float(math.floor(now / WINDOW) * WINDOW)
        if self._shared is not None:
            count = await self._shared.hit(f"failures:{client}:{org_id}", window, WINDOW, now=now)
        else:
            key = (client, org_id, window)
            count = self._counts.pop(key, 0) + 1
            self._counts[key] = count  # most recent last: the oldest go first when the map is full
            while len(self._counts) > MAX_PAIRS:
                self._counts.popitem(last=False)
        if count >= self._limit:  # this refusal was the limit-th: the next ones are answered 429
            if len(self._blocked) >= MAX_PAIRS:
                self._blocked.clear()
            self._blocked[(client, org_id)] = window + WINDOW
