"""Support for the Redis store tests: the shared test server, private servers, connection killing.

The shared server (``FORCEGATE_TEST_REDIS_URL``; the machine's ``redis://127.0.0.1:6379/0`` or a
private one of this run, see tests/private_servers.py) may be used by other test runs at the same
time: every test works under its own key prefix and deletes its keys, and connections are killed only
by the client name the test gave them. Never FLUSHDB/FLUSHALL. Private servers of a test (restart,
Sentinel, Cluster) are ``private_servers.PrivateRedis`` on free ports in ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

import private_servers
from forcegate.stores.redis_client import parse_redis_url


def shared_url() -> str:
    """The Redis server the tests share (chosen at pytest start: tests/private_servers.py)."""
    return os.environ.get(private_servers.REDIS_VARIABLE) or private_servers.DEFAULT_REDIS_URL


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
            f"FORCEGATE_TEST_REDIS_URL{private_servers.unavailable(private_servers.REDIS_VARIABLE)}",
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


# --- private servers (tests/private_servers.py): Sentinel and Cluster ----------------------------------


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


def sentinel_server(directory: Path, master_port: int, service: str) -> private_servers.PrivateRedis:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "sentinel.conf"
    # The sentinel rewrites its configuration file, so it must be a private, writable one.
    config.write_text(
        f"sentinel monitor {service} 127.0.0.1 {master_port} 1\nsentinel down-after-milliseconds {service} 5000\n"
    )
    return private_servers.PrivateRedis(directory, str(config), "--sentinel")


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
