"""What each HTTP server candidate does with idle, slow and oversized requests (decision 0012).

Every candidate serves benchmarks/_baseline_app.py (raw ASGI) on 127.0.0.1: uvicorn with its httptools
protocol (what ``forcegate serve`` ran before decision 0012), forcegate's limited httptools protocol,
uvicorn's h11 protocol (its incomplete-event cap at 32 KiB), and, when installed, granian (its header
deadline at 10 s, its buffer at 32 KiB) and hypercorn (its read timeout at 10 s). For each, at once:

* a connection that sends nothing, one that sends half a request line, and one that sends a request
  line then a header line every half second: how long until the server closes each (``--wait`` at most);

then a request with a 10 MiB ``Authorization`` header (what the server answers), the next request,
and one with a 30 KiB header (which must be served).

    .venv/bin/python benchmarks/probe_connection_limits.py [--wait 14]

granian and hypercorn are looked up beside this interpreter, then on PATH (e.g. a separate venv's bin).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http_servers import HOST, Server, Servers, granian_server, hypercorn_server, protocol_server

CRLF = b"\r\n"


def _status(port: int, extra: bytes = b"") -> str:
    """The status line for a GET with ``extra`` header lines, or what went wrong."""
    try:
        with socket.create_connection((HOST, port), timeout=15) as sock:
            with contextlib.suppress(OSError):  # a refusal may close the connection while we still send
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n" + extra + b"\r\n")
            answer = sock.recv(4096)
    except OSError as exc:
        return f"{type(exc).__name__}"
    return answer.split(b"\r\n", 1)[0].decode("latin-1") or "closed, no answer"


def _lifetime(port: int, first: bytes, trickle: bool, wait: float) -> str:
    """How long the server keeps a connection that sends ``first`` (and header lines, if ``trickle``)."""
    with socket.create_connection((HOST, port)) as sock:
        began = time.monotonic()
        if first:
            sock.sendall(first)
        sock.settimeout(0.5)
        line = 0
        while time.monotonic() - began < wait:
            try:
                if trickle:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                    line += 1
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return f"closed at {time.monotonic() - began:.1f} s (reset)"
            answered = f", answered {data.split(b' ')[1].decode()}" if data else ""
            return f"closed at {time.monotonic() - began:.1f} s{answered}"
    return f"open after {wait:.0f} s"


def probe(server: Server, wait: float) -> list[str]:
    cases = {"idle": (b"", False), "half a request line": (b"GET /heal", False)}
    cases["header lines every 0.5 s"] = (b"GET /healthz HTTP/1.1\r\n", True)
    found: dict[str, str] = {}

    def run(name: str, first: bytes, trickle: bool) -> None:
        found[name] = _lifetime(server.port, first, trickle, wait)

    threads = [threading.Thread(target=run, args=(name, *case)) for name, case in cases.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = [f"{name}: {found[name]}" for name in cases]
    huge = b"Authorization: Bearer " + b"A" * (10 << 20) + b"\r\n"
    rows.append(f"10 MiB Authorization: {_status(server.port, huge)}")
    rows.append(f"next request: {_status(server.port)}")
    rows.append(f"30 KiB header: {_status(server.port, b'X-Big: ' + b'A' * 30_000 + CRLF)}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--wait", type=float, default=14.0, help="longest a connection is watched (default 14 s)")
    args = parser.parse_args()
    servers = Servers()
    with tempfile.TemporaryDirectory(prefix="forcegate-probe-") as tmp:
        workdir = Path(tmp)
        candidates: list[tuple[str, Server | None]] = [
            (f"uvicorn {http}", protocol_server(workdir, 1, http)) for http in ("httptools", "limited", "h11")
        ]
        candidates += [
            ("granian (header deadline 10 s, buffer 32 KiB)", granian_server(workdir, 1, limits=True)),
            ("hypercorn (read timeout 10 s)", hypercorn_server(workdir, 1)),
        ]
        try:
            for label, server in candidates:
                if server is None:
                    print(f"{label}: not installed, skipped")
                    continue
                servers.start(server)
                try:
                    print(label)
                    for row in probe(server, args.wait):
                        print(f"  {row}", flush=True)
                finally:
                    servers.stop(server)
        finally:
            servers.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
