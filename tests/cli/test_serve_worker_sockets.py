"""``forcegate serve --workers N``: each worker listens on a socket of its own (``SO_REUSEPORT``), so
the kernel spreads connections over the workers, kept-alive ones included (decision 0016)."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from private_servers import free_port
from server.serve_process import ServeProcess

CONNECTIONS = 16


def listeners(port: int) -> int:
    """Sockets in LISTEN state on ``port`` (any address), from /proc/net/tcp and tcp6."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "0A":
                count += 1
    return count


def healthz_by_worker(folder: Path) -> list[float]:
    counts = []
    for path in folder.glob("forcegate_metrics_*.json"):
        snapshot = json.loads(path.read_bytes())
        counts.append(sum(v for labels, v in snapshot["forcegate_http_requests"] if labels[0] == "/healthz"))
    return counts


def _keep_alive_client(url: str) -> int:
    with httpx.Client(base_url=url, timeout=10) as client:  # one connection, kept alive for every request
        return sum(client.get("/healthz").status_code == 200 for _ in range(5))


@pytest.mark.parametrize("workers", [2, 3])
def test_each_worker_listens_and_kept_alive_connections_are_spread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    port = free_port()
    server = ServeProcess(None, tmp_path / "data", port=port, public_url=f"http://127.0.0.1:{port}", workers=workers)
    try:
        # One listener per worker once all have started (the first answers /readyz before the last
        # is up); the parent's socket holds the port and never listens.
        deadline = time.monotonic() + 20
        while listeners(port) < workers:
            assert time.monotonic() < deadline, f"{listeners(port)} listeners"
            time.sleep(0.1)
        assert listeners(port) == workers
        with ThreadPoolExecutor(CONNECTIONS) as pool:  # the connections are opened all at once
            served = sum(pool.map(_keep_alive_client, [server.url] * CONNECTIONS))
        assert served == CONNECTIONS * 5
        time.sleep(1.5)  # each worker writes its figures every second
        counts = healthz_by_worker(folder)
        assert sum(counts) == served
        # Spread by the kernel's hash of each connection: every worker got some (on one shared
        # socket, one worker often accepted the whole burst).
        assert len([c for c in counts if c]) == workers, counts
        # A worker that dies is replaced with a socket of its own.
        victim = server.workers()[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while victim in server.workers() or len(server.workers()) < workers or listeners(port) != workers:
            assert time.monotonic() < deadline, "the worker was not replaced"
            time.sleep(0.2)
        assert _keep_alive_client(server.url) == 5
    finally:
        server.stop()
