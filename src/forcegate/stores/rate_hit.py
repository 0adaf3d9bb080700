"""A rate-limit hit counted inside a grant's own write (the token endpoint's one write per grant).

The token endpoint counts each verified assertion against its org's ``token_rate_limit`` before it
claims it. Counted separately, that hit was a second write per grant — 18% of the endpoint's
throughput on the embedded default. Given to :meth:`GrantRecorder.record_grant`, it is counted in
the grant's own transaction instead: over the limit, nothing is claimed and :class:`RateExceeded`
is raised; a replay gives its hit back in the same transaction. On SQLite the grants of one group
commit add their hits with one statement per counter (``SqliteDatabase.execute_tallied``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateExceeded", "RateHit"]


@dataclass(frozen=True, slots=True)
class RateHit:
    """One hit on ``key`` in the fixed window starting at ``window_start``, allowed up to ``limit``."""

    key: str
    window_start: float
    window_seconds: int
    limit: int

    def __post_init__(self) -> None:
        # Imported here: values imports the protocols, which import this module.
        from forcegate.stores.values import check_rate_hit

        check_rate_hit(self.key, self.window_start, self.window_seconds)

    @property
    def window_end(self) -> float:
        return self.window_start + self.window_seconds


class RateExceeded(Exception):
    """The hit took its window past ``limit``: nothing was claimed or written but the hit itself."""

    def __init__(self, hits: int) -> None:
        super().__init__(f"{hits} hits in the window")
        self.hits = hits
