"""Support for the Redis store tests: the shared test server, private servers, connection killing.

The shared server (``FORCEGATE_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``) is used by other
test runs at the same time: every test works under its own key prefix and deletes its keys, and
connections are killed only by the client name the test gave them. Never FLUSHDB/FLUSHALL.
Private servers (restart, Sentinel, Cluster) run from ``redis-server`` on free ports in ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from forcegate.stores.redis_client import parse_redis_url

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def shared_url() -> str:
    return os.environ.get("FORCEGATE_TEST_REDIS_URL", DEFAULT_URL)


def with_query(url: str, option: str) -> str:
    return url + ("&" if "?" in url else "?") + option


def admin_client(url: str) -> redis.Redis:
    """A synchronous client for setup and inspection (never forcegate's own client)."""
    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)


def require_server(url: str) -> None:
    """Fail (never skip) when the test server cannot be reached: a skipped store test hides a gap."""
    where = parse_redis_url(url).describe()
    try:
        with admin_client(url) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.fail(
            f"the Redis test server {where} is not reachable ({type(exc).__name__}); start one or set "
            "FORCEGATE_TEST_REDIS_URL",
            pytrace=False,
        )


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def delete_prefixed(url: str, prefix: str) -> int:
    with admin_client(url) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)


def kill_named_connections(url: str, name: str) -> list[int]:
    """Kill, server side, every connection whose CLIENT SETNAME is ``name``; return their ids."""
    with admin_client(url) as client:
        ids = [int(c["id"]) for c in client.client_list() if c.get("name") == name]
        for client_id in ids:
            client.client_kill_filter(_id=str(client_id))
        return ids


def connection_ids(url: str, name: str) -> set[int]:
    with admin_client(url) as client:
        return {int(c["id"]) for c in client.client_list() if c.get("name") == name}


# --- private servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000, so port <= 55535) is free too."""
    for _ in range(200):
        port = 20_000 + secrets.randbelow(25_000)
        with contextlib.ExitStack() as stack:
            try:
                for candidate in (port, port + 10_000):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return port
    pytest.fail("no free port pair for a cluster node")


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        pytest.fail("redis-server is not on PATH: the restart, Sentinel and Cluster tests need it", pytrace=False)
    return path


def _wait_until_answering(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"redis-server on port {port} exited: {log.read_text(errors='replace')[-500:]}")
        with contextlib.suppress(redis.RedisError, OSError), redis.Redis(port=port, socket_timeout=0.5) as client:
            client.ping()
            return
        time.sleep(0.02)
    pytest.fail(f"redis-server on port {port} did not answer within 10 s")


class PrivateServer:
    """A ``redis-server`` this test started (and alone stops), restartable on the same port."""

    def __init__(self, directory: Path, *args: str, port: int | None = None) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateServer:
        log = self.directory / "redis.log"
        command = [redis_server_binary(), *self.args, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory), "--logfile", str(log)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_answering(self.port, self.proc, log)
        return self

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-conversation, as in a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def private_servers(*servers: PrivateServer) -> Iterator[None]:
    try:
        for server in servers:
            server.start()
        yield
    finally:
        for server in servers:
            server.stop()


def sentinel_server(directory: Path, master_port: int, service: str) -> PrivateServer:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "sentinel.conf"
    # The sentinel rewrites its configuration file, so it must be a private, writable one.
    config.write_text(
        f"sentinel monitor {service} 127.0.0.1 {master_port} 1\nsentinel down-after-milliseconds {service} 5000\n"
    )
    return PrivateServer(directory, str(config), "--sentinel")


def _cluster(client: redis.Redis, *args: object) -> Any:
    # The plain client has no typed CLUSTER methods (those live on RedisCluster): send it raw.
    return client.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]


def form_cluster(ports: list[int], timeout: float = 15.0) -> None:
    """Split the 16384 slots over ``ports`` (no replicas), introduce the nodes, wait until all agree."""
    clients = [redis.Redis(port=port, socket_timeout=3) for port in ports]
    try:
        share = 16384 // len(ports)
        for index, client in enumerate(clients):
            last = 16383 if index == len(ports) - 1 else (index + 1) * share - 1
            _cluster(client, "ADDSLOTS", *range(index * share, last + 1))
        for port in ports[1:]:
            _cluster(clients[0], "MEET", "127.0.0.1", port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [_cluster(client, "INFO") for client in clients]
            texts = [s.decode() if isinstance(s, bytes) else str(s) for s in states]
            if all("cluster_state:ok" in t and f"cluster_known_nodes:{len(ports)}" in t for t in texts):
                return
            time.sleep(0.05)
        pytest.fail(f"the private cluster on {ports} did not reach cluster_state:ok within {timeout} s")
    finally:
        for client in clients:
            client.close()
