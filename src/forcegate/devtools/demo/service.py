"""``forcegate serve`` as a child process for the demo: started on a fresh data folder, always ended.

The service runs as a real ``forcegate serve`` in its own process group (``start_new_session``), so
the demo talks to exactly what an operator would run, and stopping the group in ``finally`` ends the
server and any worker it started on every way out: success, a failed step, Ctrl-C, or SIGTERM
(which :func:`terminate_on_sigterm` turns into an exception so ``finally`` blocks run).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from forcegate.devtools.demo.report import abbreviate
from forcegate.settings import ENV_PREFIX

__all__ = [
    "ADMIN_TOKEN_MARKER",
    "DemoError",
    "DemoService",
    "Terminated",
    "expect_status",
    "free_port",
    "port_in_use",
    "running_service",
    "shown_log_lines",
    "terminate_on_sigterm",
]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
ADMIN_TOKEN_MARKER = "admin token (shown once"  # noqa: S105 - the line serve prints, not a secret


class DemoError(Exception):
    """A demo step failed; ``step`` names it for the one-line message the command prints."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


def expect_status(step: str, response: httpx.Response, status: int) -> None:
    """Raise :class:`DemoError` for ``step`` unless ``response`` has ``status``, naming the request and its answer."""
    if response.status_code != status:
        body = response.text[:300].strip()
        request = response.request
        raise DemoError(
            step, f"{request.method} {request.url.path} answered {response.status_code}, expected {status}: {body}"
        )


@dataclass
class DemoService:
    """A running ``forcegate serve``: where it listens, its admin token, and its output file."""

    url: str
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path
    admin_token: str = field(default="", repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def shown_log_lines(log: Path) -> list[str]:
    """The service's output for a reader: the admin token it printed, abbreviated like every credential."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    for index in range(1, len(lines)):
        if ADMIN_TOKEN_MARKER in lines[index - 1]:
            lines[index] = abbreviate(lines[index].strip())
    return lines


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's choice: another program could still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    # Without this the user's own FORCEGATE_DATABASE_URL or FORCEGATE_CONFIG would point the demo's
    # registrations at a real deployment: the child sees only what the demo sets.
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    env["PYTHONUNBUFFERED"] = "1"  # the admin token line must reach the log file before we read it
    env.update(extra)
    return env


def _start(data_dir: Path, port: int, log: Path, extra_env: Mapping[str, str]) -> DemoService:
    command = [
        sys.executable,
        "-m",
        "forcegate.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        # This interpreter running forcegate itself, with arguments the demo built: no outside input.
        process = subprocess.Popen(  # noqa: S603
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_child_environment(extra_env),
            start_new_session=True,
        )
    return DemoService(url=f"http://127.0.0.1:{port}", process=process, log=log)


def _wait_until_ready(service: DemoService, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            if service.process.poll() is not None:
                raise DemoError(
                    "start the service",
                    f"forcegate serve exited with status {service.process.returncode}:\n{service.log_text().strip()}",
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get(service.url + "/readyz").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise DemoError("start the service", f"forcegate serve was not ready within {timeout:.0f} s")
            time.sleep(0.05)


def _admin_token(service: DemoService) -> str:
    lines = service.log_text().splitlines()
    for index, line in enumerate(lines[:-1]):
        if ADMIN_TOKEN_MARKER in line:
            return lines[index + 1].strip()
    raise DemoError("start the service", "forcegate serve printed no admin token (was the data folder new?)")


def _exited_unreaped(pid: int, *, timeout: float) -> bool:
    """Wait for ``pid`` to exit without reaping it (``WNOWAIT``): while it is a zombie, its pid, and so
    its process group id, cannot be reused, so signalling the group cannot reach someone else's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.02)
    return False


def stop(service: DemoService) -> None:
    """SIGTERM to the whole process group, SIGKILL to whatever is left; returns once the child is reaped."""
    process = service.process
    if process.returncode is not None:
        return  # already reaped (it exited on its own): its group id may belong to someone else now
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    _exited_unreaped(process.pid, timeout=STOP_TIMEOUT)
    # The leader is a zombie (or hung): anything of its group still running (uvicorn workers) ends now.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def running_service(
    data_dir: Path, *, port: int, log: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[DemoService]:
    """``forcegate serve`` on ``data_dir`` at ``127.0.0.1:port``, ready and with its admin token; always stopped."""
    service = _start(data_dir, port, log, extra_env or {})
    try:
        _wait_until_ready(service, timeout=START_TIMEOUT)
        service.admin_token = _admin_token(service)
        yield service
    finally:
        stop(service)


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C so every ``finally`` (stop the service, remove the folder) runs."""


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` while the demo runs (main thread only)."""
    if sys.platform == "win32":  # pragma: no cover - forcegate serves from POSIX hosts
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread: leave the handlers alone
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
