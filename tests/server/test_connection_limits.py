"""Connection-level denial of service against a real ``forcegate serve``, over real sockets.

Idle and half-sent connections by the thousand, a head trickled slower than the deadline, a 10 MiB
``Authorization`` header: the service keeps answering, and closes what it must when it must
(decision 0012). Only the standard library talks to the server, and nothing of forcegate is
imported, so the same tests run unchanged against any version of ``forcegate serve``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DEADLINE = 3  # FORCEGATE_HEADER_READ_TIMEOUT and FORCEGATE_BODY_READ_TIMEOUT here, seconds: opening 5,000
# connections takes about 1 s on a 2-core machine, and they must all be open when the request is made
MARGIN = 0.5  # how late after its deadline a connection may be closed
CAP = 32 * 1024  # the default FORCEGATE_MAX_HEADER_BYTES, unchanged here
IDLE_CONNECTIONS = 5_000
FILES_BESIDE_THE_SOCKETS = 300  # the test process's own files; the server keeps 256 for itself (limits.py)
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Served:
    address: tuple[str, int]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(address: tuple[str, int], head: bytes, *, timeout: float = 5.0) -> bytes:
    """The status line the server answers ``head`` with; b"" if it closes or resets the connection instead."""
    with socket.create_connection(address, timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # a refusal may close the connection while we still send
            sock.sendall(head)
        answer = b""
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.split(b"\r\n", 1)[0]


def _healthz(extra: bytes = b"") -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: forcegate.test\r\n" + extra + b"\r\n"


@pytest.fixture(scope="module")
def file_limit() -> Iterator[int]:
    """RLIMIT_NOFILE raised to the hard limit for this process (and the server it starts), restored after."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = before[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield 1 << 30 if hard == resource.RLIM_INFINITY else hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, file_limit: int) -> Iterator[Served]:
    """``forcegate serve`` (1 worker, embedded store) with 3 s deadlines, in its own process group."""
    folder = tmp_path_factory.mktemp("limits")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")}
    env.update(
        FORCEGATE_DATA_DIR=str(folder / "data"),
        FORCEGATE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        FORCEGATE_HEADER_READ_TIMEOUT=str(DEADLINE),
        FORCEGATE_BODY_READ_TIMEOUT=str(DEADLINE),
    )
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "forcegate.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    address = ("127.0.0.1", port)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError):
                if _status(address, _healthz(), timeout=1) == b"HTTP/1.1 200 OK":
                    break
            assert process.poll() is None, f"forcegate serve exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"forcegate serve did not answer:\n{log.read_text()}"
            time.sleep(0.1)
        yield Served(address, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _closed_by_the_server(sockets: list[socket.socket], until: float) -> int:
    """How many of ``sockets`` the server has closed (EOF or reset) by the monotonic time ``until``."""
    closed = 0
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, sock)
        while closed < len(sockets) and (remaining := until - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                ready: socket.socket = key.data
                try:
                    data = ready.recv(4096)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = b""
                assert data == b"", f"an idle connection got an answer: {data[:80]!r}"
                selector.unregister(ready)
                closed += 1
    return closed


def test_thousands_of_idle_connections_neither_lock_out_a_request_nor_stay_open(
    served: Served, file_limit: int
) -> None:
    count = IDLE_CONNECTIONS
    if file_limit < count + FILES_BESIDE_THE_SOCKETS:
        pytest.skip(f"the open-file hard limit ({file_limit}) is below {count} sockets and this process's own files")
    sockets: list[socket.socket] = []
    try:
        began = time.monotonic()
        for n in range(count):
            sock = socket.socket()  # not create_connection: no name lookup 5,000 times
            sockets.append(sock)
            sock.settimeout(5)
            sock.connect(served.address)
            if n % 2:
                sock.sendall(b"GET /heal")  # half a request line; the others send nothing at all
        opened = time.monotonic() - began
        print(f"opened {count} connections in {opened:.2f} s")  # shown with -s, or when the test fails
        assert opened < DEADLINE, f"opening {count} connections took {opened:.1f} s: longer than the deadline"

        asked = time.monotonic()
        assert _status(served.address, _healthz(), timeout=1) == b"HTTP/1.1 200 OK"
        assert time.monotonic() - asked < 1

        # Each is closed when its head's deadline passes, counted from its accept: its descriptor is free.
        closed = _closed_by_the_server(sockets, began + opened + DEADLINE + MARGIN)
        assert closed == count, f"{count - closed} of {count} idle connections still open after the deadline"
    finally:
        for sock in sockets:
            sock.close()


def _trickled(address: tuple[str, int], start: bytes, drop: bytes) -> float | None:
    """Send ``start``, then ``drop`` every quarter of a second: seconds until the server closed, or None."""
    with socket.create_connection(address, timeout=5) as sock:
        began = time.monotonic()
        sock.sendall(start)
        sock.settimeout(0.25)
        while (elapsed := time.monotonic() - began) < DEADLINE + MARGIN:
            try:
                sock.sendall(drop)
                if sock.recv(4096) == b"":
                    return elapsed
            except TimeoutError:
                continue
            except OSError:  # reset, or a broken pipe: closed by the server
                return elapsed
    return None


def test_a_head_sent_slower_than_the_deadline_is_cut_at_the_deadline(served: Served) -> None:
    closed_after = _trickled(served.address, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: 1\r\n")
    assert closed_after is not None, f"a head trickled for {DEADLINE + MARGIN} s is still being read"
    assert DEADLINE - 0.25 <= closed_after <= DEADLINE + MARGIN


def test_a_body_sent_slower_than_the_deadline_is_cut_at_the_deadline(served: Served) -> None:
    head = (
        b"POST /oauth2/token HTTP/1.1\r\nHost: forcegate.test\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\ngrant_type="
    )
    closed_after = _trickled(served.address, head, b"x")
    assert closed_after is not None, f"a body trickled for {DEADLINE + MARGIN} s is still being read"
    assert DEADLINE - 0.25 <= closed_after <= DEADLINE + MARGIN


def test_a_10_mib_authorization_header_is_refused_and_the_server_serves_on(served: Served) -> None:
    status = _status(served.address, _healthz(b"Authorization: Bearer " + b"A" * (10 * 1024 * 1024) + b"\r\n"))
    assert status in (b"HTTP/1.1 431 Request Header Fields Too Large", b""), status
    assert _status(served.address, _healthz()) == b"HTTP/1.1 200 OK"


def test_a_head_of_the_cap_is_served_and_one_byte_more_is_refused(served: Served) -> None:
    def head_of(size: int) -> bytes:
        bare = len(_healthz(b"Authorization: Bearer \r\n"))
        return _healthz(b"Authorization: Bearer " + b"A" * (size - bare) + b"\r\n")

    assert len(head_of(CAP)) == CAP
    assert _status(served.address, head_of(CAP)) == b"HTTP/1.1 200 OK"
    assert _status(served.address, head_of(CAP + 1)) in (b"HTTP/1.1 431 Request Header Fields Too Large", b"")
