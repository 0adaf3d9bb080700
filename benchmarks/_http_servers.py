"""Servers for benchmarks/bench_http.py: each on 127.0.0.1, a free port, in its own process group.

The bare ASGI baseline (benchmarks/_baseline_app.py, under uvicorn or granian) and ``forcegate serve``
on a fresh data folder with the benchmark's org and certificate registered through the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ORG_ID = "00D5g000004ABCDEA4"
CERT_NAME = "Forcegate_Bench"
HOST = "127.0.0.1"
BENCHMARKS = Path(__file__).resolve().parent
UVICORN_READY = "Application startup complete."


# --- servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_status(port: int, method: str, path: str, *, headers: dict[str, str] | None = None, body: str = "") -> int:
    """The status of one request, or 0 when the server does not answer."""
    connection = http.client.HTTPConnection(HOST, port, timeout=3)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def http_exchange(
    port: int, method: str, path: str, *, headers: dict[str, str] | None = None, body: str = ""
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class Server:
    """A server process in its own session (process group), logging to a file."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] | None = None
    workers: int = 1
    ready_marker: str | None = UVICORN_READY
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True, cwd=BENCHMARKS
            )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_ready(self, *, timeout_s: float = 90.0) -> None:
        """Until every worker has logged its startup and the port answers HTTP."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            started = self.ready_marker is None or self.log_text().count(self.ready_marker) >= self.workers
            if started and http_status(self.port, "GET", "/__bench_probe__") != 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                process.poll()
                if not _group_alive(process.pid):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Servers:
    """Every server started by this run; :meth:`stop_all` runs in ``finally`` and on SIGTERM."""

    def __init__(self) -> None:
        self._running: list[Server] = []

    def start(self, server: Server) -> Server:
        self._running.append(server)
        server.start()
        server.wait_ready()
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        with contextlib.suppress(ValueError):
            self._running.remove(server)

    def stop_all(self) -> None:
        while self._running:
            self._running.pop().stop()


def baseline_server(workdir: Path, workers: int, mode: str = "raw") -> Server:
    port = free_port()
    argv = [sys.executable, str(BENCHMARKS / "_baseline_app.py"), "--port", str(port), "--workers", str(workers)]
    return Server(
        name=f"baseline {mode} (uvicorn, {workers} worker(s))",
        argv=[*argv, "--mode", mode],
        port=port,
        log_path=workdir / f"baseline-{mode}-{workers}.log",
        workers=workers,
    )


def protocol_server(workdir: Path, workers: int, http: str) -> Server:
    """The baseline app under uvicorn with protocol ``http`` (benchmarks/_protocol_server.py)."""
    port = free_port()
    argv = [sys.executable, str(BENCHMARKS / "_protocol_server.py"), "--app", "baseline", "--http", http]
    return Server(
        name=f"baseline raw (uvicorn {http}, {workers} worker(s))",
        argv=[*argv, "--port", str(port), "--workers", str(workers)],
        port=port,
        log_path=workdir / f"baseline-{http}-{workers}.log",
        workers=workers,
    )


def _tool(name: str) -> str | None:
    """An executable from this interpreter's environment, else from PATH (e.g. a separate venv's bin)."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def granian_server(workdir: Path, workers: int, *, limits: bool = False) -> Server | None:
    """The baseline app under granian; ``limits``: its header deadline and buffer cap set as forcegate's."""
    granian = _tool("granian")
    if granian is None:
        return None
    port = free_port()
    argv = [
        granian,
        "--interface=asgi",
        "--http=1",
        "--loop=uvloop",
        "--no-ws",
        f"--workers={workers}",
        f"--host={HOST}",
        f"--port={port}",
        "--no-access-log",
        # granian's own header deadline (default 30 s) and buffer cap (which bounds a head), at
        # forcegate's defaults: 10 s and the smallest buffer it allows above 32 KiB.
        *(["--http1-header-read-timeout=10000", "--http1-buffer-size=32768"] if limits else []),
        "--factory",
        f"--working-dir={BENCHMARKS}",
        "_baseline_app:create_app",
    ]
    env = {**os.environ, "FORCEGATE_BENCH_MODE": "raw"}
    return Server(
        name=f"baseline raw (granian, {workers} worker(s))",
        argv=argv,
        port=port,
        log_path=workdir / f"granian-{workers}.log",
        env=env,
        ready_marker="Started worker-",
        workers=workers,
    )


def hypercorn_server(workdir: Path, workers: int) -> Server | None:
    """The baseline app under hypercorn (h11, uvloop), heads capped at 32 KiB, reads timed out after 10 s."""
    hypercorn = _tool("hypercorn")
    if hypercorn is None:
        return None
    port = free_port()
    argv = [hypercorn, "--worker-class=uvloop", f"--workers={workers}", f"--bind={HOST}:{port}"]
    argv += ["--read-timeout=10", "--log-level=info", "_baseline_app:create_app()"]
    # hypercorn's h11_max_incomplete_size (default 16 KiB) is a config-file setting only; kept.
    return Server(
        name=f"baseline raw (hypercorn, {workers} worker(s))",
        argv=argv,
        port=port,
        log_path=workdir / f"hypercorn-{workers}.log",
        env={**os.environ, "FORCEGATE_BENCH_MODE": "raw"},
        ready_marker=None,  # ready when it answers
        workers=workers,
    )


# --- the forcegate instance -----------------------------------------------------------------------


@dataclass(frozen=True)
class Forcegate:
    data_dir: Path
    port: int
    env: dict[str, str]

    @property
    def public_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def audience(self) -> str:
        return self.public_url + "/oauth2/token"

    def cli(self, *args: str) -> str:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "forcegate.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            cwd=BENCHMARKS,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"forcegate {' '.join(args)} failed ({completed.returncode}): {completed.stderr.strip()}"
            )
        return completed.stdout

    def server(
        self, workdir: Path, workers: int, http: str = "serve", *, port: int | None = None, tree: Path | None = None
    ) -> Server:
        """``forcegate serve``; or, with ``http`` a protocol of _protocol_server.py, the service under it.

        ``port``: another port than the instance's (a second server beside it); the public URL stays.
        ``tree``: serve the forcegate of that checkout (:func:`served_from`).
        """
        port = port or self.port
        if http == "serve":
            argv = [sys.executable, "-m", "forcegate.cli", "serve", "--host", HOST, "--port", str(port)]
            argv += ["--data-dir", str(self.data_dir), "--public-url", self.public_url, "--workers", str(workers)]
            name = f"forcegate serve ({workers} worker(s))"
        else:
            argv = [sys.executable, str(BENCHMARKS / "_protocol_server.py"), "--app", "forcegate", "--http", http]
            argv += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
            name = f"forcegate under uvicorn {http} ({workers} worker(s))"
        return Server(
            name=name,
            argv=[*argv, "--log-level", "info"],
            port=port,
            log_path=workdir / f"forcegate-{http}-{workers}-{port}.log",
            env=served_from(self.env, tree),
            workers=workers,
        )


def source_variant(text: str) -> tuple[str, Path]:
    """``NAME=SOURCE_TREE`` (an argparse ``--variant`` type): a name and a checkout whose ``src/forcegate`` to serve."""
    name, sep, tree = text.partition("=")
    if not sep or not name or not tree:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=SOURCE_TREE")
    path = Path(tree).resolve()
    if not (path / "src" / "forcegate").is_dir():
        raise argparse.ArgumentTypeError(f"{tree} has no src/forcegate")
    return name, path


def served_from(env: dict[str, str], tree: Path | None) -> dict[str, str]:
    """``env`` with ``tree``'s ``src/`` first on PYTHONPATH (None: ``env`` as it is)."""
    if tree is None:
        return env
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(tree / "src"), env.get("PYTHONPATH")) if p)}


@dataclass(frozen=True)
class BenchOrg:
    """The benchmark org's RSA-2048 key and self-signed certificate: PEM for the minting processes, a file
    for the servers."""

    key_pem: bytes
    certificate_pem: bytes
    certificate_path: Path


def bench_org(workdir: Path) -> BenchOrg:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from forcegate.keys.generate import self_signed_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate_pem = self_signed_certificate(key, cn="bench", org_id=ORG_ID).public_bytes(serialization.Encoding.PEM)
    path = workdir / "org.pem"
    path.write_bytes(certificate_pem)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return BenchOrg(key_pem, certificate_pem, path)


def forcegate_instance(workdir: Path, certificate_pem: Path, *, rate_limit: int = 0) -> Forcegate:
    """A fresh data folder (``forcegate init``) with the org and its certificate registered.

    ``rate_limit``: ``token_rate_limit``; 0 (off) by default, since the benchmark drives one org far
    beyond any real org's rate. A limit too high to refuse still counts every assertion: its cost.
    """
    data_dir = workdir / "data"
    data_dir.mkdir(mode=0o700)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")}
    env["FORCEGATE_DATA_DIR"] = str(data_dir)
    env["FORCEGATE_PUBLIC_URL"] = f"http://{HOST}:{port}"
    env["FORCEGATE_TOKEN_RATE_LIMIT"] = str(rate_limit)
    instance = Forcegate(data_dir=data_dir, port=port, env=env)
    instance.cli("init")  # the registry commands never create a store
    instance.cli("orgs", "add", ORG_ID, "--scope", "api", "--name", "bench org")
    instance.cli("certs", "add", ORG_ID, str(certificate_pem))
    return instance
