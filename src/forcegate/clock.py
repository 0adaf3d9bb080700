"""Time as an injected dependency, so every time-dependent check can be tested to the second."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    """Anything that tells the current time in seconds since the Unix epoch."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock (``time.time``)."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock that stands still until told to move; for tests and reproducible demos."""

    __slots__ = ("_now",)

    def __init__(self, now: float) -> None:
        self._now = float(now)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, now: float) -> None:
        self._now = float(now)
