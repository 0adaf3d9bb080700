"""How many unverified refusals one client may write to the audit log: a bound, then a summary.

A refusal of something anyone could have sent (a junk assertion, a forged signed request) is filed
under the org it *claims*, unverified. Written one row each at a few hundred a second, junk would
fill the disk and bury a victim org's audit trail. So per client address and refusal code, at most
``limit`` such rows are written per minute; the rest are counted, and when the minute is over one
row says how many there were. Verified refusals and allowed decisions are never bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from forcegate.stores.models import AuditEvent

__all__ = ["WINDOW", "RefusalBudget"]

WINDOW = 60.0
#: Distinct (client, code) pairs tracked at once; past it, the overflow shares one bucket, so an
#: attacker rotating addresses can neither grow memory nor escape the bound.
MAX_KEYS = 10_000
_OVERFLOW = ("*", "*")


@dataclass(slots=True)
class _Bucket:
    window: float
    written: int
    suppressed: int
    endpoint: str
    credential: str


class RefusalBudget:
    def __init__(self, limit: int, *, window: float = WINDOW, max_keys: int = MAX_KEYS) -> None:
        self._limit = limit
        self._window = window
        self._max_keys = max_keys
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._summaries: list[AuditEvent] = []

    def admit(self, event: AuditEvent) -> bool:
        """Whether ``event`` is to be written (and logged); a suppressed one is counted for the summary."""
        if not self._limit or event.verified or event.result != "denied":
            return True
        window = math.floor(event.at / self._window) * self._window
        key = (event.client or "-", event.code)
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            key = _OVERFLOW
        bucket = self._buckets.get(key)
        if bucket is None or bucket.window != window:
            if bucket is not None:
                self._close(key, bucket)
            bucket = self._buckets[key] = _Bucket(window, 0, 0, event.endpoint, event.credential)
        if bucket.written < self._limit:
            bucket.written += 1
            return True
        bucket.suppressed += 1
        return False

    def summaries(self, now: float) -> list[AuditEvent]:
        """One event for each (client, code) whose window ended with refusals left unwritten."""
        current = math.floor(now / self._window) * self._window
        for key, bucket in list(self._buckets.items()):
            if bucket.window < current:
                self._close(key, bucket)
                del self._buckets[key]
        summaries, self._summaries = self._summaries, []
        return summaries

    def _close(self, key: tuple[str, str], bucket: _Bucket) -> None:
        if not bucket.suppressed:
            return
        client, code = key
        who = "clients past the tracking bound" if key == _OVERFLOW else client
        self._summaries.append(
            AuditEvent(
                at=bucket.window + self._window,
                endpoint=bucket.endpoint,
                credential=bucket.credential,
                result="denied",
                code=code if key != _OVERFLOW else "refusals_summarised",
                detail=(
                    f"{bucket.suppressed} more unverified refusals from {who} in the minute after the first "
                    f"{bucket.written}: counted, not written one by one"
                ),
                client=None if key == _OVERFLOW else client,
                verified=False,
            )
        )
