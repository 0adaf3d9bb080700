"""FreshRead: concurrent callers share a read, and never one that began before their call (decision 0027)."""

from __future__ import annotations

import asyncio

import pytest

from forcegate.stores.postgres_db import FreshRead


class Source:
    """A read that waits until released; counts the reads begun, answers the value at its start."""

    def __init__(self) -> None:
        self.value = 0
        self.begun = 0
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def read(self) -> int:
        self.begun += 1
        seen = self.value
        await self.release.wait()
        self.release.clear()
        if self.fail is not None:
            raise self.fail
        return seen


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_callers_arriving_together_share_one_read() -> None:
    async def scenario() -> tuple[list[int], int]:
        source = Source()
        shared = FreshRead(source.read)
        calls = [asyncio.ensure_future(shared()) for _ in range(10)]
        await settle()
        source.release.set()
        return await asyncio.gather(*calls), source.begun

    values, begun = asyncio.run(scenario())
    assert values == [0] * 10
    assert begun == 1


def test_a_caller_arriving_during_a_read_gets_the_next_read_and_sees_what_was_written_before() -> None:
    async def scenario() -> tuple[int, int, int]:
        source = Source()
        shared = FreshRead(source.read)
        first = asyncio.ensure_future(shared())
        await settle()  # the first read has begun, with value 0
        source.value = 1  # a registry write committed after that read began ...
        second = asyncio.ensure_future(shared())  # ... and before this call
        await settle()
        source.release.set()
        early = await first
        await settle()  # the next read begins for the second caller only now
        source.release.set()
        return early, await second, source.begun

    early, late, begun = asyncio.run(scenario())
    assert early == 0
    assert late == 1  # never the answer of the read that began before its call
    assert begun == 2


def test_a_failed_read_fails_its_callers_and_the_next_read_serves_the_next() -> None:
    async def scenario() -> tuple[list[object], int]:
        source = Source()
        source.fail = ConnectionError("server gone")
        shared = FreshRead(source.read)
        calls = [asyncio.ensure_future(shared()) for _ in range(3)]
        await settle()
        source.release.set()
        outcomes: list[object] = list(await asyncio.gather(*calls, return_exceptions=True))
        source.fail = None
        source.value = 7
        later = asyncio.ensure_future(shared())
        await settle()
        source.release.set()
        outcomes.append(await later)
        return outcomes, source.begun

    outcomes, begun = asyncio.run(scenario())
    assert [type(o) for o in outcomes[:3]] == [ConnectionError] * 3
    assert outcomes[3] == 7
    assert begun == 2


def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    async def scenario() -> int:
        source = Source()
        shared = FreshRead(source.read)
        gone = asyncio.ensure_future(shared())
        stays = asyncio.ensure_future(shared())
        await settle()
        gone.cancel()
        await settle()
        source.release.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await stays

    assert asyncio.run(scenario()) == 0


def test_a_new_event_loop_starts_afresh() -> None:
    source_value = {"n": 0}

    async def read() -> int:
        source_value["n"] += 1
        return source_value["n"]

    shared = FreshRead(read)
    assert asyncio.run(shared()) == 1
    assert asyncio.run(shared()) == 2  # another loop (the CLI, a test): not the last loop's reader
