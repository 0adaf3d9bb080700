"""Misspelt ``FORCEGATE_*`` variables at start: a near miss of a setting is refused, others are reported.

Why the difference: a misspelt setting is silently ignored, and the service would run on the default
the operator meant to change — a generated encryption key instead of the one in the secret manager,
the local SQLite instead of the shared database. An unrelated name (a deployment's own variable, a
tool's) is only reported.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from forcegate.cli import serve_command
from helpers import Runner

KEY = "QmFzZTY0LWVuY29kZWQtdGhpcnR5LXR3by1ieXRlcyE"


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    given: dict[str, Any] = {}
    monkeypatch.setattr(serve_command, "_run_uvicorn", lambda sock, **options: given.update(options))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("FORCEGATE_PORT", str(probe.getsockname()[1]))
    return given


def test_a_misspelt_setting_refuses_the_start_and_names_the_setting(
    forcegate: Runner, tmp_path: Path, ran: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("FORCEGATE_DATA_DIR", str(fresh))
    monkeypatch.setenv("FORCEGATE_ENCRYPTON_KEY", KEY)
    result = forcegate("serve")
    assert result.code == 2
    assert result.err.splitlines() == [
        "forcegate: configuration_error: FORCEGATE_ENCRYPTON_KEY is not a setting: did you mean "
        "FORCEGATE_ENCRYPTION_KEY? (a misspelt setting would be ignored; correct or unset it)"
    ]
    assert KEY not in result.err + result.out  # the name, never the value
    assert not fresh.exists(), "no encryption key was generated in its place"
    assert not ran


def test_every_command_that_reads_the_settings_refuses_it(forcegate: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    # `db rekey` with a misspelt key would re-seal every secret under the generated key file's.
    monkeypatch.setenv("FORCEGATE_DATABSE_URL", "postgresql://db.internal/forcegate")
    result = forcegate("orgs", "list")
    assert result.code == 2
    assert "did you mean FORCEGATE_DATABASE_URL?" in result.err


def test_an_unknown_variable_is_reported_and_the_service_starts(
    forcegate: Runner, ran: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCEGATE_DB_URL", "postgresql://db.internal/forcegate")
    monkeypatch.setenv("FORCEGATE_IMAGE_TAG", "2026.12")
    monkeypatch.setenv("FORCEGATE_TEST_DATABASE_URL", "postgresql://127.0.0.1/test")  # the tests': known
    result = forcegate("serve")
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        "forcegate: warning: FORCEGATE_DB_URL is not a forcegate setting and is ignored "
        "(did you mean FORCEGATE_DATABASE_URL?)",
        "forcegate: warning: FORCEGATE_IMAGE_TAG is not a forcegate setting and is ignored",
    ]
    assert ran["app"] == "forcegate.server.app:create_app_from_environment"
