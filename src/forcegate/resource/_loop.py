"""A private event loop in a daemon thread, owning the state a verifier opened on it.

The stores (PostgreSQL connection pools, the SQLite group commit, the audit writer's batch task, the
service's locks) and httpx's ``AsyncClient`` belong to the event loop they were created on. A Django or
Flask worker thread has no loop, and an async view runs on the server's loop, which may differ from one
request to the next (Django runs each sync-to-async hop on its own). So each verifier owns one loop, in
one daemon thread, where everything it opens lives and every store or network call runs:

* the sync API submits a coroutine and blocks the calling thread on its result
  (:meth:`LoopThread.call`) — any number of worker threads may do so at once;
* the async API submits the same coroutine and awaits it from the caller's own loop
  (:meth:`LoopThread.acall`), which stays free meanwhile.

Nothing starts until the first call: a verifier may be built at import time (a Django settings module,
a Flask app factory) and still work after a pre-fork server (gunicorn ``--preload``) forks its
workers — a process that finds itself forked drops the parent's thread and state, without closing
what belongs to the parent, and opens its own.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

from forcegate.errors import ForcegateError, StoreUnavailable

__all__ = ["LoopThread", "Steps", "adrive", "drive"]

log = logging.getLogger("forcegate.resource")

S = TypeVar("S")
R = TypeVar("R")
#: A check written once for both APIs: a generator that yields each piece of I/O it needs (work for the
#: loop), is sent the result or has the error thrown in, and returns its answer. :func:`drive` runs it
#: for a sync caller, :func:`adrive` for an async one; the steps that need no I/O run in the caller.
Steps = Generator[Callable[[S], Coroutine[Any, Any, Any]], Any, R]


class LoopThread(Generic[S]):
    """Runs coroutines on a private loop thread, handing each the state ``open_state`` built there.

    ``open_state`` runs on the loop at the first call (and again at the next call if it failed);
    ``close_state`` when :meth:`close` is called, or at interpreter exit.
    """

    def __init__(
        self,
        name: str,
        open_state: Callable[[], Awaitable[S]],
        close_state: Callable[[S], Awaitable[None]],
        *,
        timeout: float,
    ) -> None:
        self._name = name
        self._open_state = open_state
        self._close_state = close_state
        self._timeout = timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._state: asyncio.Task[S] | None = None  # touched on the loop thread only
        self._closed = False

    # --- the caller's side ----------------------------------------------------------------------------

    def call(self, work: Callable[[S], Coroutine[Any, Any, R]]) -> R:
        """Run ``work(state)`` on the loop and block until it is done (at most the timeout)."""
        loop = self._running_loop()
        if threading.current_thread() is self._thread:
            raise RuntimeError("a forcegate.resource verifier was called synchronously from its own loop")
        future = asyncio.run_coroutine_threadsafe(self._with_state(work), loop)
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise StoreUnavailable(f"{self._name}: no answer within {self._timeout:g} s") from None

    async def acall(self, work: Callable[[S], Coroutine[Any, Any, R]]) -> R:
        """Run ``work(state)`` on the loop and await it from the caller's loop (at most the timeout)."""
        loop = self._running_loop()
        future = asyncio.run_coroutine_threadsafe(self._with_state(work), loop)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError:
            raise StoreUnavailable(f"{self._name}: no answer within {self._timeout:g} s") from None

    def close(self) -> None:
        """Close the state on the loop, stop the loop and join its thread. Further calls raise."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            if loop is None or thread is None or self._pid != os.getpid():
                return  # never started here (or started by the parent of this forked process)
            atexit.unregister(self.close)
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(self._timeout)
        except Exception:  # closing must not fail the caller's shutdown; say what was lost
            log.exception("%s: closing its stores failed", self._name)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(self._timeout)
            if not thread.is_alive():
                loop.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        """:class:`RuntimeError` once :meth:`close` was called (even for work that needs no I/O)."""
        if self._closed:
            raise RuntimeError(f"{self._name} is closed")

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name} is closed")
            if self._loop is None or self._pid != os.getpid():
                # First use, or a forked child: the parent's thread does not exist here, and what its
                # state holds (connections, sockets) is the parent's to close, not ours.
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name=self._name, daemon=True)
        thread.start()
        started.wait()
        self._loop, self._thread, self._pid, self._state = loop, thread, os.getpid(), None
        # Close cleanly at exit (the audit writer's last batch, the database connections); the
        # thread is a daemon so a forgotten close never keeps the process alive.
        atexit.register(self.close)

    # --- the loop's side ------------------------------------------------------------------------------

    async def _with_state(self, work: Callable[[S], Coroutine[Any, Any, R]]) -> R:
        if self._state is None or (
            self._state.done() and (self._state.cancelled() or self._state.exception() is not None)
        ):
            # One opening shared by every call that arrives meanwhile; a failed one is tried again.
            self._state = asyncio.get_running_loop().create_task(self._open())
        state = await asyncio.shield(self._state)
        return await work(state)

    async def _open(self) -> S:
        return await self._open_state()

    async def _shutdown(self) -> None:
        task, self._state = self._state, None
        if task is not None:
            if not task.done():
                task.cancel()
            try:
                state = await task
            except BaseException:  # never opened: nothing to close
                return
            await self._close_state(state)


def drive(loop: LoopThread[S], steps: Steps[S, R]) -> R:
    """Run ``steps``, its I/O on ``loop``, blocking this thread while the loop works."""
    try:
        work = next(steps)
        while True:
            try:
                result = loop.call(work)
            except ForcegateError as exc:
                work = steps.throw(exc)
            else:
                work = steps.send(result)
    except StopIteration as done:
        value: R = done.value
        return value


async def adrive(loop: LoopThread[S], steps: Steps[S, R]) -> R:
    """Run ``steps``, its I/O on ``loop``, awaiting it from the caller's loop."""
    try:
        work = next(steps)
        while True:
            try:
                result = await loop.acall(work)
            except ForcegateError as exc:
                work = steps.throw(exc)
            else:
                work = steps.send(result)
    except StopIteration as done:
        value: R = done.value
        return value
