"""How a test run chooses its PostgreSQL and Redis servers (tests/private_servers.py), and that it cleans up.

The machine's servers are never stopped here: the private path is forced (``FORCEGATE_TEST_SERVERS=
private``) or the "default" is pointed at a port that a test controls.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import private_servers
from private_servers import DATABASE_VARIABLE, MODE_VARIABLE, REDIS_VARIABLE, PrivateRedis, RunServers

REPO = Path(__file__).resolve().parent.parent
#: One test that needs PostgreSQL (as superuser: it kills server processes), one that needs Redis.
SUBSET = (
    "tests/stores/test_store_postgres.py::test_reads_survive_dropped_connections_at_once",
    "tests/stores/test_store_redis.py::test_keys_are_prefix_kind_id_and_long_ids_are_hashed",
)
PRIVATE = re.compile(r"(PostgreSQL|Redis): private at \w+://(?:\w+@)?127\.0\.0\.1:(\d+)/\w* in (\S+) \(([^)]*)\)")
CLOSED = "redis://127.0.0.1:1/0"  # port 1: nothing listens there


def _closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def test_without_urls_a_run_starts_private_servers_uses_them_and_removes_them() -> None:
    environ = {k: v for k, v in os.environ.items() if k not in (DATABASE_VARIABLE, REDIS_VARIABLE)}
    environ[MODE_VARIABLE] = "private"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *SUBSET],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    header = next(line for line in done.stdout.splitlines() if line.startswith("forcegate test servers: "))
    servers = PRIVATE.findall(header)
    assert [kind for kind, *_ in servers] == ["PostgreSQL", "Redis"], header
    for _kind, port, folder, why in servers:
        assert why == "FORCEGATE_TEST_SERVERS=private"
        assert int(port) not in (5432, 6379)
        assert Path(folder).name.startswith(("forcegate-pg-", "forcegate-redis-"))
        assert not Path(folder).exists()  # deleted
        assert _closed(int(port))  # stopped


def test_a_given_url_is_used_as_it_is_even_when_it_does_not_answer() -> None:
    environ = {DATABASE_VARIABLE: "postgresql://postgres@127.0.0.1:1/test", REDIS_VARIABLE: CLOSED}
    environ[MODE_VARIABLE] = "private"
    servers = RunServers()
    servers.prepare(environ)  # no probe, no private server: the tests that need them fail loudly
    assert servers.private == []
    assert environ[DATABASE_VARIABLE] == "postgresql://postgres@127.0.0.1:1/test"
    assert environ[REDIS_VARIABLE] == CLOSED
    assert servers.header() == (
        "forcegate test servers: PostgreSQL: postgresql://postgres@127.0.0.1:1/test from FORCEGATE_TEST_DATABASE_URL; "
        "Redis: redis://127.0.0.1:1/0 from FORCEGATE_TEST_REDIS_URL"
    )


def test_an_unknown_mode_is_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match="FORCEGATE_TEST_SERVERS='privat': expected one of auto, private"):
        RunServers().prepare({MODE_VARIABLE: "privat"})


def _redis_default(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Make ``url`` the Redis server a run tries first, instead of the machine's."""
    kinds = [dataclasses.replace(k, default=url) if k.variable == REDIS_VARIABLE else k for k in private_servers.KINDS]
    monkeypatch.setattr(private_servers, "KINDS", tuple(kinds))


def test_the_default_server_is_used_when_it_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with private_servers.running(default := PrivateRedis(tmp_path / "default")):
        _redis_default(monkeypatch, default.url)
        environ = {DATABASE_VARIABLE: "postgresql://postgres@127.0.0.1:1/test"}
        servers = RunServers()
        servers.prepare(environ)
        assert servers.private == []
        assert REDIS_VARIABLE not in environ
        assert servers.chosen["Redis"] == f"the machine's at {default.url}"


def test_when_the_default_server_does_not_answer_a_private_one_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    _redis_default(monkeypatch, CLOSED)
    environ = {DATABASE_VARIABLE: "postgresql://postgres@127.0.0.1:1/test"}
    servers = RunServers()
    servers.prepare(environ)
    try:
        [server] = servers.private
        assert isinstance(server, PrivateRedis)
        assert environ[REDIS_VARIABLE] == server.url
        assert private_servers.redis_problem(server.url) is None
        chosen = servers.chosen["Redis"]
        assert chosen.startswith(f"private at {server.url} in {server.directory} (none at {CLOSED}: "), chosen
        assert "Connection refused" in chosen  # why the default was not used
    finally:
        servers.close()
    assert not server.directory.exists()
    assert _closed(server.port)
    servers.close()  # idempotent


def test_a_private_server_that_cannot_start_is_reported_and_fails_only_what_needs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _redis_default(monkeypatch, CLOSED)
    monkeypatch.setenv("PATH", "/nonexistent")  # no redis-server
    environ = {DATABASE_VARIABLE: "postgresql://postgres@127.0.0.1:1/test"}
    servers = RunServers()
    servers.prepare(environ)  # auto: no usage error, the run goes on
    monkeypatch.setattr(private_servers, "_RUN", servers)
    assert servers.private == []
    assert REDIS_VARIABLE not in environ
    reason = "no private server could be started: redis-server is not on PATH (apt-get install redis-server)"
    chosen = servers.chosen["Redis"]
    assert chosen.startswith(f"none (none at {CLOSED}: "), chosen
    assert chosen.endswith(f"; {reason})")
    assert private_servers.unavailable(REDIS_VARIABLE) == f"; {reason}"  # added to the failure messages
    assert private_servers.unavailable(DATABASE_VARIABLE) == ""
