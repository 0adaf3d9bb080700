"""``LimitedHttpToolsProtocol`` over real sockets: uvicorn (uvloop) in a thread, serving a tiny app with it.

The service as a whole, run by ``forcegate serve``, is tested in test_connection_limits.py; here are
the cases that need limits of their own (a small connection cap, sub-second deadlines) or requests
no ordinary client sends (pipelined heads, a head and a body in one read at the cap's edge).
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn.server import ServerState

from forcegate.server._asgi import ASGIApp, Receive, Scope, Send
from forcegate.server.limits import ConnectionLimits
from forcegate.server.protocol import LimitedHttpToolsProtocol, http_protocol

DEADLINE = 0.5
CAP = 2048
MAX_CONNECTIONS = 8
MARGIN = 0.4  # how late after its deadline a connection may be closed: the event loop's latency, generously


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """200 with the request's body length, after reading the whole body."""
    assert scope["type"] == "http"
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    limits = ConnectionLimits(
        header_read_timeout=DEADLINE, body_read_timeout=DEADLINE, max_header_bytes=CAP, max_connections=MAX_CONNECTIONS
    )
    config = uvicorn.Config(
        echo_app, http=http_protocol(limits), loop="uvloop", lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the test server stopped"
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    try:
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def request(path: str = "/", headers: bytes = b"", body: bytes = b"") -> bytes:
    length = b"content-length: %d\r\n" % len(body) if body else b""
    return b"POST " + path.encode() + b" HTTP/1.1\r\nhost: t\r\n" + length + headers + b"\r\n" + body


def padded(size: int, body: bytes = b"") -> bytes:
    """A request whose head (request line through the blank line) is exactly ``size`` bytes."""
    bare = len(request(headers=b"x-pad: \r\n", body=body)) - len(body)
    return request(headers=b"x-pad: " + b"a" * (size - bare) + b"\r\n", body=body)


def read_responses(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` responses' status lines (each has a content-length), or fewer if the server closed."""
    data, statuses = b"", list[bytes]()
    while len(statuses) < count:
        head, found, rest = data.partition(b"\r\n\r\n")
        if found:
            length = next(int(line[15:]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
            if len(rest) >= length:
                statuses.append(head.split(b"\r\n")[0])
                data = rest[length:]
                continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        data += chunk
    return statuses


def closed_after(sock: socket.socket, began: float, limit: float) -> float | None:
    """Seconds from ``began`` until the server closed ``sock`` (EOF or reset); None if still open at ``limit``."""
    sock.settimeout(0.05)
    while time.monotonic() - began < limit:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - began
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - began
    return None


@contextlib.contextmanager
def connected(address: tuple[str, int]) -> Iterator[socket.socket]:
    sock = socket.create_connection(address, timeout=5)
    try:
        yield sock
    finally:
        sock.close()


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(address: tuple[str, int]) -> None:
    with connected(address) as sock:
        began = time.monotonic()
        after = closed_after(sock, began, DEADLINE + MARGIN)
    assert after is not None, "the idle connection is still open"
    assert after >= DEADLINE - 0.05


def test_a_later_request_on_a_kept_alive_connection_has_the_same_deadline(address: tuple[str, int]) -> None:
    with connected(address) as sock:
        sock.sendall(request())
        assert read_responses(sock, 1) == [b"HTTP/1.1 200 OK"]
        sock.sendall(b"POST / HTTP/1.1\r\n")  # then header lines, slowly, every tenth of a second
        began = time.monotonic()
        for n in range(int((DEADLINE + MARGIN) / 0.1)):
            time.sleep(0.1)
            try:
                sock.sendall(b"x-slow-%d: 1\r\n" % n)
            except OSError:
                break
        after = closed_after(sock, began, DEADLINE + MARGIN)
    assert after is not None, "a head trickled for longer than the deadline was not cut"


def test_a_body_sent_slower_than_its_deadline_is_cut_and_one_in_pieces_in_time_is_served(
    address: tuple[str, int],
) -> None:
    with connected(address) as sock:
        sock.sendall(request(body=b"x" * 10)[:-5])  # the head and half the body
        time.sleep(DEADLINE / 2)
        sock.sendall(b"x" * 5)  # the rest, in time
        assert read_responses(sock, 1) == [b"HTTP/1.1 200 OK"]
        sock.sendall(request(body=b"x" * 10)[:-5])
        began = time.monotonic()
        after = closed_after(sock, began, DEADLINE + MARGIN)
    assert after is not None, "a body never completed was not cut"
    assert after >= DEADLINE - 0.05


def test_a_head_of_exactly_the_cap_is_served_one_byte_more_is_431(address: tuple[str, int]) -> None:
    with connected(address) as sock:
        sock.sendall(padded(CAP, body=b"x" * 1000))  # the body arrives in the same read as the head
        assert read_responses(sock, 1) == [b"HTTP/1.1 200 OK"]
    with connected(address) as sock:
        sock.sendall(padded(CAP + 1))
        assert read_responses(sock, 1) == [b"HTTP/1.1 431 Request Header Fields Too Large"]
        assert sock.recv(1) == b"", "the connection is closed after the 431"


def test_a_head_over_the_cap_sent_in_small_reads_is_refused(address: tuple[str, int]) -> None:
    with connected(address) as sock:
        data = padded(CAP * 4)
        for start in range(0, len(data), 100):
            try:
                sock.sendall(data[start : start + 100])
            except OSError:
                break  # refused and closed midway, as it should be
        assert read_responses(sock, 1) == [b"HTTP/1.1 431 Request Header Fields Too Large"]


def test_pipelined_requests_are_served_and_a_pipelined_head_over_the_cap_is_not(address: tuple[str, int]) -> None:
    with connected(address) as sock:
        # Three requests in one write: each head is counted although it starts inside a read.
        sock.sendall(request(body=b"abc") + padded(CAP) + request(body=b"de"))
        assert read_responses(sock, 3) == [b"HTTP/1.1 200 OK"] * 3
    with connected(address) as sock:
        # The second head starts after the first message ended inside the same read, and is over the cap.
        sock.sendall(request(body=b"abc") + padded(CAP + 200))
        statuses = read_responses(sock, 2)
    assert b"HTTP/1.1 200 OK" not in statuses[1:], statuses


def test_connections_beyond_the_cap_are_closed_and_those_accepted_are_served(address: tuple[str, int]) -> None:
    with contextlib.ExitStack() as stack:
        accepted = [stack.enter_context(connected(address)) for _ in range(MAX_CONNECTIONS)]
        time.sleep(0.1)  # all accepted by the server
        extra = stack.enter_context(connected(address))
        assert closed_after(extra, time.monotonic(), 1.0) is not None, "the connection beyond the cap was served"
        # The ones already accepted are served (uvicorn's limit_concurrency would answer them 503).
        accepted[0].sendall(request())
        assert read_responses(accepted[0], 1) == [b"HTTP/1.1 200 OK"]
    time.sleep(0.1)  # closed on the server's side too
    with connected(address) as sock:
        sock.sendall(request())
        assert read_responses(sock, 1) == [b"HTTP/1.1 200 OK"], "room again once connections closed"


def test_the_factory_pickles_with_its_limits_for_the_worker_processes() -> None:
    limits = ConnectionLimits(
        header_read_timeout=10.0, body_read_timeout=30.0, max_header_bytes=32768, max_connections=100
    )
    factory = pickle.loads(pickle.dumps(http_protocol(limits)))  # noqa: S301 - our own bytes, as uvicorn does
    loop = asyncio.new_event_loop()  # given, or the protocol would make one that nobody closes
    try:
        protocol = factory(config=uvicorn.Config(echo_app), server_state=ServerState(), app_state={}, _loop=loop)
    finally:
        loop.close()
    assert isinstance(protocol, LimitedHttpToolsProtocol)
    assert factory.limits == limits


# --- a response's head and body in one write ------------------------------------------------------

LIMITS = ConnectionLimits(header_read_timeout=10.0, body_read_timeout=30.0, max_header_bytes=CAP, max_connections=10)


class RecordingTransport(asyncio.Transport):
    """What the protocol writes, write by write (the socket would merge or split them)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _served(app: ASGIApp, *reads: bytes) -> RecordingTransport:
    """Feed ``reads`` to one connection's protocol, letting the app run after each."""
    return asyncio.run(_serve(app, reads))


async def _serve(app: ASGIApp, reads: tuple[bytes, ...]) -> RecordingTransport:
    config = uvicorn.Config(app, lifespan="off", log_level="critical", access_log=False)
    config.load()
    protocol = LimitedHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop(), limits=LIMITS)
    transport = RecordingTransport()
    protocol.connection_made(transport)
    try:
        for data in reads:
            protocol.data_received(data)
            for _ in range(10):
                await asyncio.sleep(0)
    finally:
        protocol.connection_lost(None)
    return transport


async def _streamed(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]})
    await send({"type": "http.response.body", "body": b"abc", "more_body": True})
    await send({"type": "http.response.body", "body": b"def"})


async def _fails_after_head(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]})
    raise RuntimeError("the app failed midway")


def _status_and_body(data: bytes) -> tuple[bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


def test_a_response_goes_out_in_one_write_head_and_body_together() -> None:
    transport = _served(echo_app, request(body=b"abc"))
    assert len(transport.writes) == 1, transport.writes
    assert _status_and_body(transport.writes[0]) == (b"HTTP/1.1 200 OK", b"3")


def test_after_the_first_body_write_a_streamed_body_passes_straight_through() -> None:
    transport = _served(_streamed, request())
    assert len(transport.writes) == 2, transport.writes
    assert _status_and_body(transport.writes[0]) == (b"HTTP/1.1 200 OK", b"abc")
    assert transport.writes[1] == b"def"


def test_a_head_request_gets_its_head_without_waiting_for_a_body() -> None:
    transport = _served(echo_app, b"HEAD / HTTP/1.1\r\nhost: t\r\n\r\n")
    assert len(transport.writes) == 1, transport.writes
    assert _status_and_body(transport.writes[0]) == (b"HTTP/1.1 200 OK", b"")


def test_100_continue_is_not_held_back_and_the_response_follows_in_one_write() -> None:
    head = b"POST / HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n"
    transport = _served(echo_app, head, b"abcd")
    assert transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the client sends its body
    assert len(transport.writes) == 2, transport.writes
    assert _status_and_body(transport.writes[1]) == (b"HTTP/1.1 200 OK", b"4")


def test_a_head_held_when_the_app_fails_is_written_before_the_connection_closes() -> None:
    transport = _served(_fails_after_head, request())
    assert transport.closed
    assert [_status_and_body(w) for w in transport.writes] == [(b"HTTP/1.1 200 OK", b"")]


def test_pipelined_responses_keep_their_order_each_in_one_write() -> None:
    transport = _served(echo_app, request(body=b"a") + request(body=b"bcd"))
    assert [_status_and_body(w) for w in transport.writes] == [(b"HTTP/1.1 200 OK", b"1"), (b"HTTP/1.1 200 OK", b"3")]
