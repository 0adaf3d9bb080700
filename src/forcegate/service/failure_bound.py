"""The failure limit around an entry's refusals, for entries that do not go through the token,
resource or Canvas paths (which count their own): the ``/enroll`` pages, the proof of possession,
enrollment from a Canvas app.

Decision 0013 §3 applies unchanged: refusals are counted per (client address, claimed org) and
minute; past ``failure_rate_limit`` a refusal of the pair is answered 429 (``Retry-After``) instead
of itself, and a step that succeeds is never refused for it. So the bound only changes how a
refusal is *answered*; what the refusal changed (nothing) and how it is audited (by the step that
refused) stay the step's own.

Usage, in an adapter::

    async with bounded(service.failures, client=client) as claimed:
        claimed.org_id = ...  # as soon as the org the attempt is for is known
        ...                   # the step; a ForcegateError leaving the block is counted and maybe replaced

``claimed.resolve``: a coroutine working the org out only when a refusal needs it (a store read the
successful path should not pay for).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from forcegate.errors import ForcegateError
from forcegate.service.failures import FailureLimiter, counts_as_failure

__all__ = ["Claimed", "bounded"]


@dataclass(slots=True)
class Claimed:
    """Who a refused attempt counts against: the client's address and the org it is for, if known."""

    client: str | None
    org_id: str | None = None
    resolve: Callable[[], Awaitable[str | None]] | None = None

    async def org(self) -> str | None:
        if self.org_id is not None or self.resolve is None:
            return self.org_id
        try:
            return await self.resolve()
        except ForcegateError:  # the store is down: the pair is (client, no org), never a second error
            return None


@asynccontextmanager
async def bounded(failures: FailureLimiter, *, client: str | None, org_id: str | None = None) -> AsyncIterator[Claimed]:
    """Count a :class:`ForcegateError` leaving the block against (``client``, the claimed org) and
    raise, past the bound, :class:`~forcegate.errors.RateLimited` in its place (see the module)."""
    claimed = Claimed(client, org_id)
    try:
        yield claimed
    except ForcegateError as exc:
        org = await claimed.org()
        # Answer first, then count: the refusal that reaches the bound is still answered as itself.
        refusal = failures.instead(exc, client, org)
        if counts_as_failure(exc):
            await failures.record(client, org)
        if refusal is exc:
            raise
        raise refusal from None
