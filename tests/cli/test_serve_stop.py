"""``forcegate serve`` stopped with SIGTERM (systemd, docker stop, kill) exits 0, with one worker or several."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from private_servers import free_port


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_is_a_clean_stop(tmp_path: Path, workers: int) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")}
    argv = [sys.executable, "-m", "forcegate.cli", "serve", "--port", str(port), "--workers", str(workers)]
    argv += ["--data-dir", str(tmp_path / "data")]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "forcegate serve did not become ready"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output.decode()
    assert b"Application shutdown complete" in output
