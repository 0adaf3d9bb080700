"""``bounded``: an entry's refusals counted against (client, claimed org); past the bound, 429 instead."""

from __future__ import annotations

import asyncio

import pytest

from forcegate.clock import FixedClock
from forcegate.errors import (
    EnrollmentCodeInvalid,
    ForcegateError,
    RateLimited,
    SalesforceUnavailable,
    StoreUnavailable,
)
from forcegate.service.failure_bound import bounded
from forcegate.service.failures import FailureLimiter

CLIENT, ORG, OTHER = "198.51.100.7", "00D5g000004ABCDEA4", "00D5g000004XYZWEA4"
LIMIT = 2


def _refuse(limiter: FailureLimiter, error: ForcegateError, *, org: str | None = None) -> ForcegateError:
    async def go() -> None:
        async with bounded(limiter, client=CLIENT) as claimed:
            claimed.org_id = org
            raise error

    with pytest.raises(ForcegateError) as raised:
        asyncio.run(go())
    return raised.value


def test_the_refusal_past_the_bound_is_answered_429() -> None:
    limiter = FailureLimiter(LIMIT, clock=FixedClock(1_700_000_040.0))
    answers = [_refuse(limiter, EnrollmentCodeInvalid("wrong code"), org=ORG) for _ in range(LIMIT + 1)]
    assert [type(answer) for answer in answers] == [EnrollmentCodeInvalid] * LIMIT + [RateLimited]
    limited = answers[-1]
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 60
    assert "this one: enrollment_code_invalid" in limited.reason
    assert isinstance(_refuse(limiter, EnrollmentCodeInvalid("x"), org=OTHER), EnrollmentCodeInvalid)


def test_the_services_own_trouble_is_not_counted() -> None:
    limiter = FailureLimiter(LIMIT, clock=FixedClock(1_700_000_040.0))
    for _ in range(LIMIT + 2):
        assert isinstance(_refuse(limiter, SalesforceUnavailable("down"), org=ORG), SalesforceUnavailable)
    assert isinstance(_refuse(limiter, EnrollmentCodeInvalid("x"), org=ORG), EnrollmentCodeInvalid)


def test_the_org_is_resolved_only_for_a_refusal_and_a_failing_resolver_counts_under_none() -> None:
    limiter = FailureLimiter(LIMIT, clock=FixedClock(1_700_000_040.0))
    asked: list[str] = []

    async def resolve() -> str | None:
        asked.append("resolved")
        return ORG

    async def broken() -> str | None:
        raise StoreUnavailable("the store is down")

    async def succeed() -> None:
        async with bounded(limiter, client=CLIENT) as claimed:
            claimed.resolve = resolve

    async def refuse(resolver: object) -> None:
        async with bounded(limiter, client=CLIENT) as claimed:
            claimed.resolve = resolver  # type: ignore[assignment]
            raise EnrollmentCodeInvalid("wrong code")

    asyncio.run(succeed())
    assert asked == []  # nothing to count: nothing read
    for _ in range(LIMIT):
        with pytest.raises(EnrollmentCodeInvalid):
            asyncio.run(refuse(resolve))
    assert asked == ["resolved"] * LIMIT
    with pytest.raises(RateLimited):
        asyncio.run(refuse(resolve))
    with pytest.raises(EnrollmentCodeInvalid):  # (client, None): another pair, and no second error
        asyncio.run(refuse(broken))
