"""A rate-limit hit counted inside a grant's own write (the token endpoint's one write per grant).

The token endpoint counts each verified assertion against its org's ``token_rate_limit`` before it
claims it. Counted separately, that hit was a second write per grant — 18% of the endpoint's
throughput on the embedded default. Given to :meth:`GrantRecorder.record_grant`, it is counted in
the grant's own transaction instead: over the limit, nothing is claimed and :class:`RateExceeded`
is raised; a replay gives its hit back in the same transaction. On SQLite the grants of one group
commit add their hits with one statement per counter (``SqliteDatabase.execute_tallied``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from forcegate.errors import ConfigurationError

__all__ = ["RateExceeded", "RateHit", "check_rate_hit"]


def check_rate_hit(key: object, window_start: object, window_seconds: object) -> None:
    """The arguments of :meth:`~forcegate.stores.protocols.RateCounter.hit`, the same on every backend."""
    if not isinstance(key, str) or not key:
        raise ConfigurationError("a rate counter key is a non-empty string")
    if isinstance(window_start, bool) or not isinstance(window_start, int | float) or not math.isfinite(window_start):
        raise ConfigurationError("a rate window's start is a finite number of seconds")
    if isinstance(window_seconds, bool) or not isinstance(window_seconds, int) or window_seconds < 1:
        raise ConfigurationError("a rate window lasts a whole number of seconds, at least 1")


@dataclass(frozen=True, slots=True)
class RateHit:
    """One hit on ``key`` in the fixed window starting at ``window_start``, allowed up to ``limit``."""

    key: str
    window_start: float
    window_seconds: int
    limit: int

    def __post_init__(self) -> None:
        # Made for every limited grant: the check lives in this module, not imported on each call
        # (an import statement in a hot function costs about as much as the check).
        check_rate_hit(self.key, self.window_start, self.window_seconds)

    @property
    def window_end(self) -> float:
        return self.window_start + self.window_seconds


class RateExceeded(Exception):
    """The hit took its window past ``limit``: nothing was claimed or written but the hit itself."""

    def __init__(self, hits: int) -> None:
        super().__init__(f"{hits} hits in the window")
        self.hits = hits
