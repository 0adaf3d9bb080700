"""``forcegate serve``'s connection limits: refused before anything starts, or handed to uvicorn.

What the limits do to real connections is tested in tests/server/test_connection_limits.py.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from forcegate.cli import serve_command
from forcegate.server import limits as server_limits
from forcegate.server.limits import ConnectionLimits
from helpers import Runner


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings from the environment only, so the variables serve exports are restored after the test;
    a port nothing listens on (serve binds it before it starts)."""
    data = tmp_path / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("FORCEGATE_DATA_DIR", str(data))
    monkeypatch.setenv("FORCEGATE_PORT", str(port))
    monkeypatch.setenv("FORCEGATE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    return data


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FORCEGATE_HEADER_READ_TIMEOUT", "0", "header_read_timeout must be between 1 and 300 seconds"),
        ("FORCEGATE_HEADER_READ_TIMEOUT", "2.5", "FORCEGATE_HEADER_READ_TIMEOUT: header_read_timeout has an invalid"),
        ("FORCEGATE_BODY_READ_TIMEOUT", "0", "body_read_timeout must be between 1 and 3600 seconds"),
        ("FORCEGATE_MAX_HEADER_BYTES", "100", "max_header_bytes must be between 1024 and 1048576"),
        ("FORCEGATE_MAX_HEADER_BYTES", "32k", "FORCEGATE_MAX_HEADER_BYTES: max_header_bytes has an invalid value"),
        ("FORCEGATE_MAX_CONNECTIONS", "-5", "max_connections must be 0"),
    ],
)
def test_bad_limits_exit_2_before_anything_is_created(
    forcegate: Runner, data_dir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = forcegate("serve")
    assert result.code == 2
    assert message in result.err
    assert not data_dir.exists(), "nothing was created"


def test_a_cap_that_does_not_fit_the_open_file_limit_exits_2(
    forcegate: Runner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_limits, "raise_open_file_limit", lambda: 1024)
    monkeypatch.setenv("FORCEGATE_MAX_CONNECTIONS", "1000")
    result = forcegate("serve")
    assert result.code == 2
    assert "max_connections 1000 does not fit the open-file limit 1024" in result.err
    assert "LimitNOFILE" in result.err
    assert not data_dir.exists(), "nothing was created"


def test_serve_runs_uvicorn_with_the_limited_protocol_and_says_its_limits(
    forcegate: Runner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: dict[str, Any] = {}
    # uvicorn itself is not started (it would configure this process's logging): what it is given is kept.
    monkeypatch.setattr(serve_command, "_run_uvicorn", lambda sock, **kwargs: ran.update(kwargs, sock=sock))
    monkeypatch.setattr(server_limits, "raise_open_file_limit", lambda: 4096)
    monkeypatch.setenv("FORCEGATE_HEADER_READ_TIMEOUT", "7")
    monkeypatch.setenv("FORCEGATE_BODY_READ_TIMEOUT", "20")
    monkeypatch.setenv("FORCEGATE_MAX_HEADER_BYTES", "16384")
    result = forcegate("serve")
    assert result.code == 0, result.err
    assert ran["http"].limits == ConnectionLimits(
        header_read_timeout=7.0, body_read_timeout=20.0, max_header_bytes=16384, max_connections=4096 - 256
    )
    assert (
        "forcegate: request heads within 7 s and 16,384 bytes, bodies within 20 s more; at most 3,840 open per worker"
        in result.out
    )
