"""``forcegate serve`` binds its port before anything else, and hands that socket to uvicorn.

A port that cannot be listened on is one line and exit 2, before the data folder is created; the
service's logging is configured through uvicorn's ``log_config`` (what the lines look like is tested in
tests/server/test_logs.py and, on a real ``forcegate serve``, tests/server/test_serve_logs.py).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forcegate.cli import serve_command
from helpers import Runner


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder that does not exist yet (the CLI tests' own has a schema already)."""
    monkeypatch.setenv("FORCEGATE_DATA_DIR", str(tmp_path / "fresh"))
    return tmp_path / "fresh"


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port another server listens on (bound as uvicorn binds: SO_REUSEADDR)."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What serve hands to uvicorn, which is not started (it would configure this process's logging)."""
    given: dict[str, Any] = {}

    def run(sock: socket.socket, **options: Any) -> None:
        given.update(options, address=sock.getsockname())
        # The port is held while uvicorn runs: nobody else can take it between the check and the serving.
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                other.bind(sock.getsockname())
            except OSError as refused:
                given["rebind_errno"] = refused.errno

    monkeypatch.setattr(serve_command, "_run_uvicorn", run)
    return given


def test_a_port_in_use_is_one_line_and_exit_2_before_anything_is_created(
    forcegate: Runner, fresh: Path, occupied: int
) -> None:
    result = forcegate("serve", "--port", str(occupied))
    assert result.code == 2
    assert result.err.splitlines() == [
        f"forcegate: cannot listen on 127.0.0.1:{occupied}: the address is in use "
        "(another forcegate serve? choose another with --port)"
    ]
    assert result.out == ""  # no "serving …" line for a service that will not serve
    assert not fresh.exists(), "nothing was created"


def test_an_address_that_is_not_this_machines_is_refused(forcegate: Runner, fresh: Path, free_port: int) -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine has it.
    result = forcegate("serve", "--host", "192.0.2.1", "--port", str(free_port), "--public-url", "http://127.0.0.1")
    assert result.code == 2
    assert result.err.splitlines() == [
        f"forcegate: cannot listen on 192.0.2.1:{free_port}: the address is not one of this machine's "
        "(choose another with --host)"
    ]
    assert not fresh.exists()


def test_serve_hands_its_bound_socket_to_uvicorn(forcegate: Runner, free_port: int, ran: dict[str, Any]) -> None:
    result = forcegate("serve", "--port", str(free_port), "--workers", "2")
    assert result.code == 0, result.err
    assert ran["address"] == ("127.0.0.1", free_port)
    assert ran["rebind_errno"] == errno.EADDRINUSE
    assert (ran["app"], ran["factory"], ran["workers"]) == ("forcegate.server.app:create_app_from_environment", True, 2)
    assert f"forcegate: listening on 127.0.0.1:{free_port} (2 workers; Ctrl-C stops)" in result.out.splitlines()
    with socket.socket() as again:  # released when uvicorn returns
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", free_port))


@pytest.mark.parametrize(
    ("environ", "formatter", "decisions"),
    [
        ({}, "forcegate.server.logs.TextFormatter", False),
        ({"FORCEGATE_DEVELOPMENT": "1"}, "forcegate.server.logs.TextFormatter", True),
        ({"FORCEGATE_LOG_FORMAT": "json"}, "forcegate.server.logs.JsonFormatter", True),
    ],
)
def test_decisions_are_logged_in_development_and_in_json(
    forcegate: Runner,
    free_port: int,
    ran: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    formatter: str,
    decisions: bool,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    result = forcegate("serve", "--port", str(free_port))
    assert result.code == 0, result.err
    config = ran["log_config"]
    assert config["formatters"]["forcegate"]["()"] == formatter
    assert config["handlers"]["forcegate"]["stream"] == "ext://sys.stderr"
    assert (config["loggers"]["forcegate.audit"]["level"] == logging.INFO) is decisions
    assert ran["log_level"] == "info"


def test_log_format_option_overrides_the_environment(
    forcegate: Runner, free_port: int, ran: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCEGATE_LOG_FORMAT", "text")
    result = forcegate("serve", "--port", str(free_port), "--log-format", "json")
    assert result.code == 0, result.err
    assert ran["log_config"]["formatters"]["access"]["()"] == "forcegate.server.logs.JsonFormatter"
    assert ran["log_config"]["handlers"]["access"]["stream"] == "ext://sys.stderr"  # every JSON line on stderr
