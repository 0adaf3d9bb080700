"""``forcegate serve`` stopped with SIGTERM (systemd, docker stop, kill) exits 0, with one worker or several."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from private_servers import free_port
from server.serve_process import ServeProcess


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_is_a_clean_stop(tmp_path: Path, workers: int) -> None:
    port = free_port()
    server = ServeProcess(None, tmp_path / "data", port=port, public_url=f"http://127.0.0.1:{port}", workers=workers)
    try:
        server.process.send_signal(signal.SIGTERM)  # to the serving process only, as systemd's main-PID stop
        returncode = server.process.wait(timeout=30)
    finally:
        server.stop()
    output = server.log.read_text()
    assert returncode == 0, output
    assert "Application shutdown complete" in output
