"""uvicorn's httptools protocol with connection-level limits: request deadlines, a head size cap, a connection cap.

uvicorn's ``HttpToolsProtocol`` arms no timer until a first response has been sent, and puts no
bound on a request's head: a client that connects and sends nothing, or half a request line, holds a
file descriptor for ever, and a 10 MiB ``Authorization`` header is read into memory and handed to
the application. :class:`LimitedHttpToolsProtocol` adds, per connection:

* a **header deadline**: the request line and headers must be complete within ``header_read_timeout``
  seconds, counted from the connection's accept for its first request, and for a later one from the
  read that leaves its head incomplete (the idle time between requests is uvicorn's keep-alive
  timeout); when it passes, the connection is closed without an answer, which frees its descriptor;
* a **body deadline**: once its headers are in, a request's body must be complete within
  ``body_read_timeout`` seconds, or the connection is closed (a body trickled byte by byte holds a
  descriptor as long as a trickled head would); bodies that arrive with their head never arm it;
* a **header size cap**: a head (request line and headers) over ``max_header_bytes`` is answered
  ``431 Request Header Fields Too Large`` and the connection closed, after reading at most
  ``max_header_bytes`` of it, so a huge header costs neither memory nor parsing;
* a **connection cap**: a new connection beyond ``max_connections`` open in this worker is closed at
  once. Connections already accepted keep being served (uvicorn's ``limit_concurrency`` answers 503
  to every request instead), and the worker keeps descriptors for its own files, database and
  outbound connections.

Why a subclass and not uvicorn's h11 protocol or another server: decision 0012 (measured). The
subclass keeps uvicorn's parsing and ASGI cycle; it re-implements only ``data_received`` (the head
accounting needs to feed the parser in pieces and to tell its own refusal from a malformed request)
and hooks the parser callbacks that mark a head's start and end. Its per-request cost is a few
attribute updates: no timer is armed for a request that arrives in one read.

It also writes each response's head together with the start of its body (:class:`_HeadJoiningWrites`):
uvicorn writes them with two ``transport.write`` calls, i.e. two ``send`` system calls and two TCP
segments the client wakes up for; one is enough (decision 0029 measures it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from forcegate.server.limits import ConnectionLimits

__all__ = ["LimitedHttpToolsProtocol", "http_protocol"]

log = logging.getLogger("forcegate.server.connections")

_TOO_LARGE = b"Request Header Fields Too Large"
# What stops httptools' parser: an upgrade request (not an HttpParserError) or an error.
_PARSING_STOPPED = (httptools.HttpParserUpgrade, httptools.HttpParserError)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head found too large once complete."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with the limits of :class:`~forcegate.server.limits.ConnectionLimits`.

    One instance per connection, built by uvicorn through :func:`http_protocol`'s factory.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout = limits.header_read_timeout
        self._body_timeout = limits.body_read_timeout
        self._max_head = limits.max_header_bytes
        self._max_connections = limits.max_connections
        self._deadline: asyncio.TimerHandle | None = None  # of the head or body being received, if any
        # Between a message's end (or the connection's start) and its successor's headers' end.
        self._reading_head = True
        # Bytes received while the current head is incomplete (fewer for a pipelined one: see on_message_begin).
        self._head_bytes = 0
        # False for a head that began after another message ended within the same read (pipelining):
        # its first bytes went to the parser before the count restarted, so it is measured when complete.
        self._head_counted = True
        self._message_ended = False  # a message ended within the read being fed
        self._head_refused = False

    # --- connection ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._max_connections and len(self.connections) > self._max_connections:
            # Refuse the newcomer, not the requests in flight: closed before it is read from.
            log.debug("connection refused: %d open, the cap is %d", len(self.connections) - 1, self._max_connections)
            transport.close()
            return
        # The first head's clock starts at the accept: a client that connects and sends nothing is
        # closed when it runs out, like one that sends half a request line.
        self._deadline = self.loop.call_later(self._header_timeout, self._timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's ``data_received``, feeding a head at most ``max_header_bytes`` at a time."""
        self._unset_keepalive_if_required()
        if not (self._reading_head and len(data) < self._max_head - self._head_bytes):
            self._receive_in_pieces(data)
            return
        # The usual read: a whole request, or less than the head's room. Nothing to cut, and the count
        # stays under the cap whatever the read holds. (Parsed here, not in a helper: one call less.)
        self._head_bytes += len(data)
        self._message_ended = False
        try:
            self.parser.feed_data(data)
        except _PARSING_STOPPED as exc:
            self._parse_failed(exc)
            return
        if self._deadline is None and (self._head_bytes or not self._reading_head):
            # The read left a head or a body incomplete (bytes of requests that ended in it are not counted).
            self._arm_deadline()

    def _receive_in_pieces(self, data: bytes) -> None:
        """A read that may hold more than the head's room: the head's part first, then the rest."""
        while data:
            if self._reading_head:
                room = self._max_head - self._head_bytes
                piece, data = (data[:room], data[room:]) if len(data) > room else (data, b"")
                self._head_bytes += len(piece)  # reset by on_message_complete if the message ends in it
            else:
                piece, data = data, b""  # a body (and whatever follows it): the parser delimits it
            self._message_ended = False
            try:
                self.parser.feed_data(piece)
            except _PARSING_STOPPED as exc:
                self._parse_failed(exc)
                return
            if self._reading_head and self._head_bytes >= self._max_head:
                # At least max_header_bytes of a head and still no end: over the cap, whatever follows.
                self._refuse_head()
                return
        if self._deadline is None and (self._head_bytes or not self._reading_head):
            self._arm_deadline()

    def _parse_failed(self, exc: Exception) -> None:
        """What uvicorn does when parsing stops (an upgrade, a malformed request), and our own refusal."""
        if isinstance(exc, httptools.HttpParserUpgrade):
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        elif self._head_refused:  # on_headers_complete measured a pipelined head over the cap
            self._refuse_head()
        else:
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)

    # --- parser callbacks ---------------------------------------------------------------------------

    # Called once per request each: uvicorn's methods are called by name, not through super(), and
    # the timer is cancelled inline, to keep the cost per request down (decision 0012 measures it).

    def on_message_begin(self) -> None:
        self._head_counted = not self._message_ended
        HttpToolsProtocol.on_message_begin(self)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if not self._head_counted and self._head_size() > self._max_head:
            self._head_refused = True
            raise _HeadTooLarge
        HttpToolsProtocol.on_headers_complete(self)
        cycle = self.cycle
        # The cycle just made (not an earlier one, which an upgrade leaves in place); a HEAD response
        # has no body write to join its head to.
        if cycle is not None and cycle.transport is self.transport and cycle.scope["method"] != "HEAD":
            cycle.transport = cast("asyncio.Transport", _HeadJoiningWrites(self.transport))

    def on_message_complete(self) -> None:
        self._reading_head = self._message_ended = True
        self._head_bytes = 0
        if self._deadline is not None:  # the body's
            self._deadline.cancel()
            self._deadline = None
        HttpToolsProtocol.on_message_complete(self)

    # --- limits -------------------------------------------------------------------------------------

    def _head_size(self) -> int:
        """The head's size from what was parsed of it (for a pipelined head, the only measure)."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _arm_deadline(self) -> None:
        """Start the clock of the head or the body that a read left incomplete."""
        timeout = self._header_timeout if self._reading_head else self._body_timeout
        self._deadline = self.loop.call_later(timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            # No answer: the request is incomplete, and a slow client is not owed one.
            log.debug(
                "connection closed: request %s incomplete at its deadline", "head" if self._reading_head else "body"
            )
            self.transport.close()

    def _refuse_head(self) -> None:
        self._cancel_deadline()
        log.debug("request head over %d bytes: 431, connection closed", self._max_head)
        if self.cycle is None or self.cycle.response_complete:
            # Nothing in flight on this connection: say why before closing. (A pipelined head refused
            # while an earlier response is being written only closes: a 431 would corrupt that response.)
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[431],
                        *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: %d\r\n" % len(_TOO_LARGE),
                        b"connection: close\r\n\r\n",
                        _TOO_LARGE,
                    ]
                )
            )
        self.transport.close()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


#: What uvicorn writes, before any response, to a request that sent ``Expect: 100-continue``.
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _HeadJoiningWrites:
    """The transport as one request's response cycle sees it: the response's head is held back and
    written together with the first write after it (the body, or its first chunk), in ONE write.

    The cycle writes, in order: perhaps ``100 Continue`` (before the response: passed at once, the
    client waits for it), the head, then the body. Anything after the head goes straight through.
    Closing writes a head still held first, so a response cut short (an app that fails after its
    head) reaches the client as it did before: head, then the close.
    """

    __slots__ = ("_head_seen", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._head_seen:
            held = self._held
            if held is None:
                self._transport.write(data)
            else:
                self._held = None
                self._transport.write(held + data)
        elif data == _CONTINUE:
            self._transport.write(data)
        else:
            self._head_seen = True
            self._held = data

    def close(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


@dataclass(frozen=True)
class _ProtocolFactory:
    """Builds :class:`LimitedHttpToolsProtocol` as uvicorn builds its protocol classes.

    A module-level dataclass, so uvicorn can pickle it into its worker processes with the limits in it.
    """

    limits: ConnectionLimits

    def __call__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> LimitedHttpToolsProtocol:
        return LimitedHttpToolsProtocol(config, server_state, app_state, _loop, limits=self.limits)


def http_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """What to pass as uvicorn's ``http=``: :class:`LimitedHttpToolsProtocol` with ``limits``.

    uvicorn only calls ``http`` with the protocol's constructor arguments (``Config.load``, ``Server``),
    so a factory stands in for a class; its annotation says "class" because ``uvicorn.run``'s does.
    """
    return cast("type[asyncio.Protocol]", _ProtocolFactory(limits))
