"""FailureLimiter: refusals counted per (client address, claimed org) per minute; past the bound, 429.

Regression tests of the abuse limits (``failure_rate_limit``): the bound only changes how a refusal
is answered, the admin pair is refused before its token is compared, windows end, the service's own
trouble is never counted, memory stays bounded, and the shared counter (Redis in production) is
what several workers count in.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from pathlib import Path

import pytest

from forcegate.clock import FixedClock
from forcegate.errors import (
    AssertionReplayed,
    AuthenticationRequired,
    CanvasSignatureInvalid,
    ConfigurationError,
    ForcegateError,
    InvalidSignature,
    MalformedToken,
    NoCredentials,
    RateLimited,
    RequestError,
    SalesforceUnavailable,
    StoreUnavailable,
)
from forcegate.service import failures
from forcegate.service.failures import WINDOW, FailureLimiter, counts_as_failure
from forcegate.stores.encryption import SecretBox
from forcegate.stores.protocols import RateCounter
from forcegate.stores.sqlite import open_sqlite_stores

START = 1_700_000_040.0  # a window boundary (a multiple of 60)
CLIENT, OTHER_CLIENT = "198.51.100.7", "198.51.100.8"
ORG, OTHER_ORG = "00D5g000004ABCDEA4", "00D5g000004XYZWEA4"
LIMIT = 3


def _record(limiter: FailureLimiter, client: str | None, org: str | None, times: int = 1) -> None:
    async def go() -> None:
        for _ in range(times):
            await limiter.record(client, org)

    asyncio.run(go())


def _limiter(clock: FixedClock, limit: int = LIMIT) -> FailureLimiter:
    return FailureLimiter(limit, clock=clock, shared=None)


def test_window_is_one_minute() -> None:
    assert START % WINDOW == 0
    assert WINDOW == 60


def test_within_the_limit_a_refusal_is_answered_as_itself() -> None:
    limiter = _limiter(FixedClock(START + 15))
    refusal = InvalidSignature("forged")
    _record(limiter, CLIENT, ORG, LIMIT - 1)
    assert limiter.instead(refusal, CLIENT, ORG) is refusal
    limiter.check(CLIENT, ORG)  # does not raise
    assert not limiter.active


def test_the_refusal_after_limit_refusals_is_answered_429() -> None:
    """``failure_rate_limit`` refused attempts per minute; the next refused attempt is beyond it
    (settings: "how many refused attempts ... one client address may make per minute ...; beyond
    it, its refusals are answered 429")."""
    limiter = _limiter(FixedClock(START + 15))
    _record(limiter, CLIENT, ORG, LIMIT)  # LIMIT refusals were answered as themselves
    answer = limiter.instead(InvalidSignature("forged"), CLIENT, ORG)  # refusal number LIMIT + 1
    assert isinstance(answer, RateLimited), f"refusal {LIMIT + 1} answered {answer.code}, not 429"


def test_after_limit_admin_refusals_the_admin_pair_is_refused_before_its_token() -> None:
    """The admin credential: ``failure_rate_limit`` refused attempts, then the next call is refused
    before the token is compared (settings: "admin calls beyond it are refused")."""
    limiter = _limiter(FixedClock(START + 15))
    _record(limiter, CLIENT, None, LIMIT)
    with pytest.raises(RateLimited):
        limiter.check(CLIENT, None)  # call number LIMIT + 1


def test_past_the_limit_a_refusal_becomes_rate_limited_with_retry_after() -> None:
    limiter = _limiter(FixedClock(START + 15))
    _record(limiter, CLIENT, ORG, LIMIT + 1)
    assert limiter.active
    refusal = InvalidSignature("RS256 signature does not verify")
    answer = limiter.instead(refusal, CLIENT, ORG)
    assert isinstance(answer, RateLimited)
    assert (answer.code, answer.status, answer.oauth_error) == ("rate_limited", 429, "slow_down")
    assert answer.retry_after == 45  # until the window ends, not a full minute from now
    assert answer.verified is False  # a junk credential proves nothing about its sender
    assert f"{LIMIT} failed attempts in a minute from {CLIENT} for org {ORG}" in answer.reason
    assert "this one: invalid_signature: RS256 signature does not verify" in answer.reason


def test_a_verified_refusal_stays_verified_when_limited() -> None:
    """``.verified`` is copied from the refusal: a replayed genuine assertion is still a verified row."""
    limiter = _limiter(FixedClock(START + 15))
    _record(limiter, CLIENT, ORG, LIMIT + 1)
    answer = limiter.instead(AssertionReplayed("already used"), CLIENT, ORG)
    assert isinstance(answer, RateLimited)
    assert answer.verified is True
    assert "this one: assertion_replayed" in answer.reason


def test_check_raises_for_the_admin_pair_only() -> None:
    clock = FixedClock(START + 59.5)
    limiter = _limiter(clock)
    _record(limiter, CLIENT, None, LIMIT + 1)
    with pytest.raises(RateLimited) as raised:
        limiter.check(CLIENT, None)
    assert raised.value.retry_after == 1  # half a second left: rounded up, never 0
    assert raised.value.verified is False
    assert "for org (none named)" in raised.value.reason
    limiter.check(OTHER_CLIENT, None)  # another address
    limiter.check(CLIENT, ORG)  # the same address for an org: another pair


def test_pairs_are_counted_apart() -> None:
    limiter = _limiter(FixedClock(START + 15))
    refusal = InvalidSignature("forged")
    _record(limiter, CLIENT, ORG, LIMIT + 1)
    assert isinstance(limiter.instead(refusal, CLIENT, ORG), RateLimited)
    assert limiter.instead(refusal, CLIENT, OTHER_ORG) is refusal
    assert limiter.instead(refusal, OTHER_CLIENT, ORG) is refusal
    assert limiter.instead(refusal, CLIENT, None) is refusal
    assert limiter.instead(refusal, None, ORG) is refusal


def test_the_bound_ends_with_the_window() -> None:
    clock = FixedClock(START + 15)
    limiter = _limiter(clock)
    refusal = InvalidSignature("forged")
    _record(limiter, CLIENT, ORG, LIMIT + 1)
    _record(limiter, CLIENT, None, LIMIT + 1)
    clock.set(START + WINDOW - 1)
    limited = limiter.instead(refusal, CLIENT, ORG)
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 1
    clock.set(START + WINDOW)  # the next window
    assert limiter.instead(refusal, CLIENT, ORG) is refusal
    limiter.check(CLIENT, None)  # does not raise
    assert not limiter.active
    # The new window counts from zero.
    _record(limiter, CLIENT, ORG, LIMIT - 1)
    assert limiter.instead(refusal, CLIENT, ORG) is refusal


def test_refusals_of_an_earlier_window_do_not_add_up() -> None:
    clock = FixedClock(START + 50)
    limiter = _limiter(clock)
    _record(limiter, CLIENT, ORG, LIMIT - 1)
    clock.set(START + WINDOW + 5)
    _record(limiter, CLIENT, ORG, LIMIT - 1)
    refusal = InvalidSignature("forged")
    assert limiter.instead(refusal, CLIENT, ORG) is refusal
    assert not limiter.active


@pytest.mark.parametrize(
    "error",
    [InvalidSignature("x"), MalformedToken("x"), CanvasSignatureInvalid("x"), AuthenticationRequired("x")],
    ids=lambda e: e.code,
)
def test_refusals_of_the_caller_count(error: ForcegateError) -> None:
    assert counts_as_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        StoreUnavailable("db down"),
        SalesforceUnavailable("no answer"),
        ConfigurationError("bad"),
        RateLimited("org budget", retry_after=3),
        NoCredentials("none sent"),
    ],
    ids=lambda e: e.code,
)
def test_the_services_own_trouble_and_limits_already_applied_do_not_count(error: ForcegateError) -> None:
    assert not counts_as_failure(error)
    limiter = _limiter(FixedClock(START + 15))
    _record(limiter, CLIENT, ORG, LIMIT + 1)
    # Even for a pair over the bound, a 503 stays a 503 and a 401 without credentials stays one.
    assert limiter.instead(error, CLIENT, ORG) is error


def test_a_request_error_counts_and_is_limited() -> None:
    limiter = _limiter(FixedClock(START + 15))
    _record(limiter, CLIENT, ORG, LIMIT + 1)
    assert isinstance(limiter.instead(RequestError("malformed form"), CLIENT, ORG), RateLimited)


def test_no_limit_when_zero() -> None:
    limiter = _limiter(FixedClock(START + 15), limit=0)
    _record(limiter, CLIENT, ORG, 500)
    _record(limiter, CLIENT, None, 500)
    refusal = InvalidSignature("forged")
    assert limiter.instead(refusal, CLIENT, ORG) is refusal
    limiter.check(CLIENT, None)
    assert not limiter.active


def test_counts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failures, "MAX_PAIRS", 2)
    limiter = _limiter(FixedClock(START + 15))
    refusal = InvalidSignature("forged")
    a, b, c = ("192.0.2.1", ORG), ("192.0.2.2", ORG), ("192.0.2.3", ORG)
    _record(limiter, *a, times=2)
    _record(limiter, *b)
    _record(limiter, *c)  # a third pair: a, the least recent, is forgotten with its 2
    _record(limiter, *a, times=2)  # 2 again, not 4
    assert limiter.instead(refusal, *a) is refusal


def test_the_least_recently_refused_pair_is_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failures, "MAX_PAIRS", 2)
    limiter = _limiter(FixedClock(START + 15))
    a, b, c = ("192.0.2.1", ORG), ("192.0.2.2", ORG), ("192.0.2.3", ORG)
    _record(limiter, *a, times=2)
    _record(limiter, *b)
    _record(limiter, *a)  # a: 3, and now more recent than b
    _record(limiter, *c)  # b is forgotten, a is kept
    _record(limiter, *a)  # a: 4
    assert isinstance(limiter.instead(InvalidSignature("forged"), *a), RateLimited)


def test_pairs_over_the_bound_are_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failures, "MAX_PAIRS", 2)
    limiter = _limiter(FixedClock(START + 15), limit=1)
    pairs = [(f"192.0.2.{n}", ORG) for n in range(1, 4)]
    for pair in pairs:
        _record(limiter, *pair, times=2)
    refusal = InvalidSignature("forged")
    # Full with the first two: they were let go when the third was blocked; memory stays bounded.
    assert [limiter.instead(refusal, *pair) is refusal for pair in pairs] == [True, True, False]


class FakeRateCounter:
    """A RateCounter in memory, recording every hit (the Redis counter's contract, one process)."""

    def __init__(self) -> None:
        self.counts: defaultdict[tuple[str, float], int] = defaultdict(int)
        self.hits: list[tuple[str, float, int, float]] = []

    async def hit(self, key: str, window_start: float, window_seconds: int, *, now: float) -> int:
        self.hits.append((key, window_start, window_seconds, now))
        self.counts[key, window_start] += 1
        return self.counts[key, window_start]

    async def refund(self, key: str, window_start: float) -> None:
        self.counts[key, window_start] = max(0, self.counts[key, window_start] - 1)

    async def purge(self, now: float) -> int:
        return 0


def test_the_shared_counter_is_keyed_by_pair_and_window() -> None:
    counter = FakeRateCounter()
    shared: RateCounter = counter
    limiter = FailureLimiter(LIMIT, clock=FixedClock(START + 15), shared=shared)
    _record(limiter, CLIENT, ORG)
    _record(limiter, CLIENT, None)
    assert counter.hits == [
        (f"failures:{CLIENT}:{ORG}", START, WINDOW, START + 15),
        (f"failures:{CLIENT}:None", START, WINDOW, START + 15),
    ]


def test_workers_sharing_a_counter_learn_of_the_bound_on_their_own_next_refusal() -> None:
    counter = FakeRateCounter()
    clock = FixedClock(START + 15)
    first = FailureLimiter(LIMIT, clock=clock, shared=counter)
    second = FailureLimiter(LIMIT, clock=clock, shared=counter)
    refusal = InvalidSignature("forged")
    _record(first, CLIENT, ORG, LIMIT - 1)
    assert second.instead(refusal, CLIENT, ORG) is refusal
    _record(second, CLIENT, ORG, 2)  # the deployment's refusals LIMIT and LIMIT + 1
    assert isinstance(second.instead(refusal, CLIENT, ORG), RateLimited)
    assert first.instead(refusal, CLIENT, ORG) is refusal  # not told: it learns on its next refusal
    _record(first, CLIENT, ORG)
    assert isinstance(first.instead(refusal, CLIENT, ORG), RateLimited)


def test_the_shared_counter_is_not_touched_when_there_is_no_limit() -> None:
    counter = FakeRateCounter()
    limiter = FailureLimiter(0, clock=FixedClock(START + 15), shared=counter)
    _record(limiter, CLIENT, ORG, 5)
    assert counter.hits == []


def test_two_limiters_count_in_the_sqlite_rate_counter(tmp_path: Path) -> None:
    """With a store's ``rates`` (the contract the Redis counter also meets), workers count together."""

    async def scenario() -> list[bool]:
        stores = await open_sqlite_stores(str(tmp_path / "data" / "forcegate.db"), box=SecretBox(os.urandom(32)))
        try:
            clock = FixedClock(START + 15)
            workers = [FailureLimiter(LIMIT, clock=clock, shared=stores.rates) for _ in range(2)]
            for _ in range(LIMIT - 1):
                await workers[0].record(CLIENT, ORG)
            for _ in range(2):  # the deployment's refusals LIMIT and LIMIT + 1
                await workers[1].record(CLIENT, ORG)
            await stores.rates.hit("unrelated", START, WINDOW, now=START)  # other keys are apart
            refusal = InvalidSignature("forged")
            limited = [isinstance(worker.instead(refusal, CLIENT, ORG), RateLimited) for worker in workers]
            clock.set(START + WINDOW)
            await workers[0].record(CLIENT, ORG)  # a new window: counted from one
            limited.append(isinstance(workers[0].instead(refusal, CLIENT, ORG), RateLimited))
            return limited
        finally:
            await stores.close()

    # Worker 1 counted past the bound and knows; worker 0 learns on its own next refusal.
    assert asyncio.run(scenario()) == [False, True, False]
