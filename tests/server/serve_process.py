"""``forcegate serve`` as a real process (its own process group, workers included), for the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from server.backends import Backend

SERVE_TIMEOUT = 30.0


class ServeProcess:
    """``forcegate serve`` as its own process group (its workers included), stopped with SIGTERM."""

    def __init__(
        self,
        backend: Backend | None,
        data_dir: Path,
        *,
        port: int,
        public_url: str,
        workers: int = 1,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``backend``: PostgreSQL (+ Redis); None for the embedded default in ``data_dir`` (which may
        exist already, prepared by the test). ``environ``: more ``FORCEGATE_*`` settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")}
        env.update(backend.environ() if backend is not None else {})
        env.update({"FORCEGATE_DATA_DIR": str(data_dir), "FORCEGATE_PUBLIC_URL": public_url})
        # The tests drive one org far beyond a real org's rate: the limit at its maximum, so every
        # assertion is still counted (the counter store is exercised) but none is refused.
        env["FORCEGATE_TOKEN_RATE_LIMIT"] = "1000000"
        env.update(environ or {})
        argv = [sys.executable, "-m", "forcegate.cli", "serve", "--port", str(port), "--workers", str(workers)]
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir.with_suffix(".log")
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + SERVE_TIMEOUT
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"forcegate serve did not become ready:\n{self.log.read_text()}")
            time.sleep(0.1)

    def admin_token(self) -> str:
        lines = self.log.read_text().splitlines()
        marker = next(i for i, line in enumerate(lines) if "admin token (shown once" in line)
        return lines[marker + 1].strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)

    def workers(self) -> list[int]:
        """The pids of the worker processes (uvicorn's children that serve; not its helpers)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        found = []
        for pid in children:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except FileNotFoundError:
                continue  # it just ended
            if b"resource_tracker" not in cmdline:
                found.append(int(pid))
        return found
