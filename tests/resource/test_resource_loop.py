"""The private loop thread: one state opened on it for every caller, sync or async, and closed with it."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from forcegate.errors import StoreUnavailable
from forcegate.resource._loop import LoopThread


class State:
    def __init__(self) -> None:
        self.thread = threading.current_thread().name
        self.pid = os.getpid()
        self.closed = False


class Opener:
    """Opens a :class:`State` on the loop; fails the first ``failures`` times."""

    def __init__(self, failures: int = 0) -> None:
        self.opened: list[State] = []
        self.failures = failures

    async def open(self) -> State:
        await asyncio.sleep(0.01)  # callers arriving meanwhile share this opening
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("not yet")
        state = State()
        self.opened.append(state)
        return state

    async def close(self, state: State) -> None:
        state.closed = True


async def whose(state: State) -> tuple[str, str, int]:
    return state.thread, threading.current_thread().name, id(asyncio.get_running_loop())


def test_every_caller_runs_on_the_one_loop_with_the_one_state() -> None:
    opener = Opener()
    loop = LoopThread("test-loop", opener.open, opener.close, timeout=5)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = set(pool.map(lambda _: loop.call(whose), range(32)))

        async def from_a_loop() -> tuple[str, str, int]:
            return await loop.acall(whose)

        answers.add(asyncio.run(from_a_loop()))
        assert len(answers) == 1
        [(opened_on, ran_on, _)] = answers
        assert opened_on == ran_on == "test-loop"
        assert len(opener.opened) == 1
    finally:
        loop.close()
    assert opener.opened[0].closed
    with pytest.raises(RuntimeError, match="closed"):
        loop.call(whose)


def test_a_failed_opening_is_tried_again_at_the_next_call() -> None:
    opener = Opener(failures=1)
    loop = LoopThread("test-loop", opener.open, opener.close, timeout=5)
    try:
        with pytest.raises(StoreUnavailable, match="not yet"):
            loop.call(whose)
        assert loop.call(whose)[0] == "test-loop"
    finally:
        loop.close()


def test_a_call_that_takes_too_long_is_an_outage_and_the_loop_goes_on() -> None:
    opener = Opener()
    loop = LoopThread("test-loop", opener.open, opener.close, timeout=0.2)

    async def slow(_: State) -> None:
        await asyncio.sleep(5)

    try:
        with pytest.raises(StoreUnavailable, match=r"no answer within 0\.2 s"):
            loop.call(slow)

        async def aslow() -> None:
            await loop.acall(slow)

        with pytest.raises(StoreUnavailable):
            asyncio.run(aslow())
        assert loop.call(whose)[1] == "test-loop"
    finally:
        loop.close()


def test_work_on_the_loop_cannot_call_it_synchronously() -> None:
    opener = Opener()
    loop = LoopThread("test-loop", opener.open, opener.close, timeout=5)

    async def reentrant(_: State) -> None:
        loop.call(whose)

    try:
        with pytest.raises(RuntimeError, match="its own loop"):
            loop.call(reentrant)
    finally:
        loop.close()


def test_nothing_starts_before_the_first_call_and_closing_then_is_a_no_op() -> None:
    opener = Opener()
    loop = LoopThread("test-loop", opener.open, opener.close, timeout=5)
    assert "test-loop" not in {thread.name for thread in threading.enumerate()}
    loop.close()
    assert opener.opened == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork() of a multi-threaded process
def test_a_forked_child_opens_its_own_state() -> None:
    """gunicorn --preload: built (and even used) in the parent, used in each forked worker."""
    opener = Opener()
    loop = LoopThread("test-loop", opener.open, opener.close, timeout=5)
    try:
        loop.call(whose)
        parent_pid = opener.opened[0].pid
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # the child: use the verifier, report, and leave without running pytest's exit
            try:
                state_pid = loop.call(lambda state: _pid_of(state))
                os.write(write_end, f"{state_pid} {len(opener.opened)}".encode())
            finally:
                os._exit(0)
        os.close(write_end)
        report = os.read(read_end, 100).decode()
        os.waitpid(child, 0)
        os.close(read_end)
        state_pid, opened = map(int, report.split())
        assert state_pid == child != parent_pid  # the child opened its own
        assert opened == 2
        assert loop.call(whose)[0] == "test-loop"  # the parent's is untouched
        assert len(opener.opened) == 1
    finally:
        loop.close()


async def _pid_of(state: State) -> int:
    return state.pid
