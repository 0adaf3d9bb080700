"""HTTP load on loopback: forcegate's hot endpoints beside a bare ASGI baseline, driven by wrk.

Servers (each bound to 127.0.0.1 on a free port, in its own process group, always stopped):

* baseline: benchmarks/_baseline_app.py under uvicorn with ``forcegate serve``'s settings (httptools,
  uvloop, no access log): read the body, one RS256 verify with ``cryptography``, a small JSON answer;
* forcegate: ``forcegate serve`` on a fresh temporary data folder (embedded SQLite default), with one
  org (scope ``api``) and its RSA-2048 certificate registered through the CLI before it starts.

Measured with 1 and 2 server workers, interleaved ``baseline, token, baseline, me, me, baseline``
(the baseline's median is the reference: the machine is noisy):

* ``POST /oauth2/token``: every request posts a DIFFERENT assertion (single use), minted beforehand
  with the Apex emulator in a process pool: as many as a short calibration run says the service can
  take in ``--seconds``, times 1.5. A request past the end of the pool is never a reused assertion:
  it is a counted error (see _wrk.py), and the run is repeated once with a larger pool.
* ``GET /api/v1/me`` with one access token (Apex caches its token: the realistic case), and
  round-robin over ``--many-tokens`` distinct tokens obtained from the token endpoint beforehand:
  more than the service's verified-token cache holds per worker, so that run shows the uncached cost.

Targets (issue "forcegate service"): /oauth2/token >= 60% of the baseline's req/s, /api/v1/me >= 80%,
zero errors. A miss is reported, not fatal; any error (socket error, non-2xx) exits 1; no wrk exits 2.

Each run also reports the server's CPU time per request (from /proc: steadier than req/s on a shared
machine) and each worker's share. uvicorn's workers share one listening socket, and wrk opens all its
connections at once: sometimes one worker accepts them all. Such a run is repeated once (and flagged
with * if it happens again), since it measured one worker, not two.

    .venv/bin/python benchmarks/bench_http.py [--seconds 8] [--quick] [--workers 1,2] [--connections 32]
    .venv/bin/python benchmarks/bench_http.py --frameworks   # raw ASGI vs Starlette body/form vs granian

wrk comes from the distribution (``apt-get install wrk``); it is not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib.util
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _wrk import WrkMissing, WrkResult, pool_script, run_wrk, static_script, wrk_path

ORG_ID = "00D5g000004ABCDEA4"
CERT_NAME = "Forcegate_Bench"
FORM_PREFIX = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}
ACCESS_TOKEN_CACHE = 10_000  # AccessTokenVerifier's default cache_size (per worker process)
TOKEN_TARGET = 0.60
ME_TARGET = 0.80
HOST = "127.0.0.1"
BENCHMARKS = Path(__file__).resolve().parent
UVICORN_READY = "Application startup complete."
BASELINE_LABEL = "baseline (raw ASGI, 1 RS256 verify)"

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


def granian_server(workdir: Path, workers: int) -> Server | None:
    granian = shutil.which("granian", path=str(Path(sys.executable).parent)) or shutil.which("granian")
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

    def server(self, workdir: Path, workers: int) -> Server:
        argv = [sys.executable, "-m", "forcegate.cli", "serve", "--host", HOST, "--port", str(self.port)]
        argv += ["--data-dir", str(self.data_dir), "--public-url", self.public_url, "--workers", str(workers)]
        return Server(
            name=f"forcegate serve ({workers} worker(s))",
            argv=[*argv, "--log-level", "info"],
            port=self.port,
            log_path=workdir / f"forcegate-{workers}.log",
            env=self.env,
            workers=workers,
        )


def forcegate_instance(workdir: Path, certificate_pem: Path) -> Forcegate:
    """A fresh data folder with the org and its certificate registered (the CLI creates the schema)."""
    data_dir = workdir / "data"
    data_dir.mkdir(mode=0o700)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")}
    env["FORCEGATE_DATA_DIR"] = str(data_dir)
    env["FORCEGATE_PUBLIC_URL"] = f"http://{HOST}:{port}"
    instance = Forcegate(data_dir=data_dir, port=port, env=env)
    instance.cli("orgs", "add", ORG_ID, "--scope", "api", "--name", "bench org")
    instance.cli("certs", "add", ORG_ID, str(certificate_pem))
    return instance


# --- assertions: minted in a process pool ---------------------------------------------------------

_minter: tuple[object, str, str] | None = None  # (CertificateAndKeyManagement, iss, aud) per pool process


def _init_minter(key_pem: bytes, certificate_pem: bytes, issuer: str, audience: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from forcegate.salesforce import CertificateAndKeyManagement

    key = load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    store = CertificateAndKeyManagement()
    store.add(CERT_NAME, private_key=key, certificate=x509.load_pem_x509_certificate(certificate_pem))
    global _minter
    _minter = (store, issuer, audience)


def _mint_range(bounds: tuple[int, int]) -> list[str]:
    """Assertions ``start .. stop - 1``: each its own ``sub``, so no two are the same token."""
    from forcegate.salesforce import AuthJWS, AuthJWT, CertificateAndKeyManagement

    assert _minter is not None
    store, issuer, audience = _minter
    assert isinstance(store, CertificateAndKeyManagement)
    start, stop = bounds
    minted = []
    for n in range(start, stop):
        jwt = AuthJWT(iss=issuer, sub=f"bench.user{n}@example.com", aud=audience, validity_length=300)
        minted.append(AuthJWS(jwt, CERT_NAME, certificates=store).compact_serialization())
    return minted


class Minter:
    """Apex-shaped assertions (RS256, 300 s validity), numbered across the run so all differ."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool
        self._next = 0

    def mint(self, count: int) -> list[str]:
        start, self._next = self._next, self._next + count
        chunks = [(n, min(n + 500, start + count)) for n in range(start, start + count, 500)]
        began = time.perf_counter()
        minted = [token for chunk in self._pool.map(_mint_range, chunks) for token in chunk]
        if count > 1:
            say(f"minted {count:,} assertions in {time.perf_counter() - began:.1f} s")
        return minted


# --- fetching access tokens (a small asyncio HTTP/1.1 client: httpx would take longer than the runs) --


async def _post_forms(port: int, bodies: Sequence[bytes], *, connections: int = 16) -> list[tuple[int, bytes]]:
    results: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)
    position = 0

    async def worker() -> None:
        nonlocal position
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while position < len(bodies):
                index, position = position, position + 1
                body = bodies[index]
                writer.write(
                    b"POST /oauth2/token HTTP/1.1\r\nHost: %s:%d\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
                    % (HOST.encode(), port, len(body), body)
                )
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                length = next(
                    int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length"
                )
                results[index] = (status, await reader.readexactly(length))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return results


def fetch_access_tokens(port: int, assertions: Sequence[str]) -> list[str]:
    began = time.perf_counter()
    bodies = [(FORM_PREFIX + a).encode("ascii") for a in assertions]
    results = asyncio.run(_post_forms(port, bodies))
    refused = [(status, body) for status, body in results if status != 200]
    if refused:
        status, body = refused[0]
        raise RuntimeError(f"{len(refused)} of {len(results)} token requests refused; first: {status} {body[:300]!r}")
    tokens = [str(orjson.loads(body)["access_token"]) for _, body in results]
    elapsed = time.perf_counter() - began
    say(f"obtained {len(tokens):,} access tokens in {elapsed:.1f} s ({len(tokens) / elapsed:,.0f}/s, Python client)")
    return tokens


# --- runs -----------------------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"# {message}", flush=True)


@dataclass
class Run:
    label: str
    workers: int
    result: WrkResult
    server: Server
    cpu: tuple[float, ...] = ()  # % of wall time, per worker process, busiest first


class Bench:
    def __init__(self, workdir: Path, *, seconds: int, connections: int, verbose: bool) -> None:
        self.workdir = workdir
        self.seconds = seconds
        self.connections = connections
        self.verbose = verbose
        self._scripts = 0

    def script(self, text: str) -> Path:
        self._scripts += 1
        path = self.workdir / f"script-{self._scripts}.lua"
        path.write_text(text, encoding="ascii")
        return path

    def data(self, lines: Sequence[str]) -> Path:
        self._scripts += 1
        path = self.workdir / f"data-{self._scripts}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="ascii")
        return path

    def wrk(self, server: Server, path: str, script: Path, *, seconds: int | None = None) -> WrkResult:
        result = run_wrk(
            f"http://{HOST}:{server.port}{path}",
            script,
            seconds=seconds or self.seconds,
            connections=self.connections,
        )
        if self.verbose:
            print(result.report, flush=True)
        return result

    def measure(
        self, server: Server, path: str, script: Path, *, seconds: int | None = None
    ) -> tuple[WrkResult, tuple[float, ...]]:
        """A wrk run, and the CPU share (% of wall time) of the server's busiest ``workers`` processes.

        The shares' sum times the run's length over its request count is the server's CPU time per
        request (:func:`cpu_per_request`): steadier than req/s on a shared machine.
        """
        assert server.process is not None
        before, began = process_cpu(server.process.pid), time.monotonic()
        result = self.wrk(server, path, script, seconds=seconds)
        after, wall = process_cpu(server.process.pid), time.monotonic() - began
        shares = sorted(((after[pid] - before.get(pid, 0.0)) / wall * 100 for pid in after), reverse=True)
        return result, tuple(shares[: server.workers])


def process_cpu(pgid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each process in the group ``pgid``: Linux ``/proc``, else empty."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found: dict[int, float] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text(encoding="ascii")
            except OSError:
                continue  # gone meanwhile
            fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, …
            if int(fields[2]) == pgid:
                found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def cpu_per_request(run: Run) -> float | None:
    """Server CPU µs per request (None without /proc figures)."""
    if not run.cpu or not run.result.requests:
        return None
    return sum(run.cpu) / 100 * run.result.duration_s / run.result.requests * 1e6


def cpu_us_text(run: Run) -> str:
    value = cpu_per_request(run)
    return "-" if value is None else f"{value:.0f}"


def cpu_text(shares: Sequence[float]) -> str:
    return "+".join(f"{share:.0f}" for share in shares) or "-"


def uneven(shares: Sequence[float]) -> bool:
    """One worker did (nearly) all the work: wrk's connections all landed on it."""
    return len(shares) > 1 and min(shares) < 0.25 * max(shares)


def baseline_script(assertion_like: str) -> str:
    """The baseline's request: a token request of the same size as the real ones."""
    return static_script("POST", "/oauth2/token", FORM_TYPE, FORM_PREFIX + assertion_like)


def token_script(bench: Bench, assertions: Sequence[str]) -> Path:
    data = bench.data(assertions)
    return bench.script(
        pool_script(
            data,
            mode="once",
            method="POST",
            path="/oauth2/token",
            headers=FORM_TYPE,
            item_in="body",
            prefix=FORM_PREFIX,
        )
    )


def me_script(bench: Bench, tokens: Sequence[str]) -> Path:
    if len(tokens) == 1:
        return bench.script(static_script("GET", "/api/v1/me", {"Authorization": "Bearer " + tokens[0]}))
    data = bench.data(tokens)
    return bench.script(
        pool_script(data, mode="cycle", method="GET", path="/api/v1/me", headers={}, item_in="header", prefix="Bearer ")
    )


def pool_rate(result: WrkResult) -> float:
    """Requests per second while a ``once`` pool lasted (the requests past its end are fast 404s)."""
    if result.exhausted and result.pool_seconds:
        return max(0, result.requests - result.exhausted) / result.pool_seconds
    return result.rps


def describe(result: WrkResult) -> str:
    return (
        f"{result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"errors {result.errors} (socket {result.socket_errors}, non-2xx {result.status_errors}"
        + (f", pool exhausted {result.exhausted}" if result.exhausted else "")
        + ")"
    )


def measure_workers(
    bench: Bench,
    servers: Servers,
    forcegate: Forcegate,
    minter: Minter,
    workers: int,
    *,
    many_tokens: int,
    max_assertions: int,
    state: dict[str, object],
) -> list[Run]:
    """Start both servers with ``workers`` workers, warm up, calibrate, measure (interleaved), stop."""
    say(f"--- {workers} worker(s) ---")
    baseline = servers.start(baseline_server(bench.workdir, workers))
    service = servers.start(forcegate.server(bench.workdir, workers))
    try:
        tokens = state.get("tokens")
        fetched_at = state.get("tokens_at")
        if not isinstance(tokens, list) or not isinstance(fetched_at, float) or time.monotonic() - fetched_at > 300:
            tokens = fetch_access_tokens(service.port, minter.mint(many_tokens))
            state["tokens"], state["tokens_at"] = tokens, time.monotonic()
        status, body = http_exchange(
            service.port, "GET", "/api/v1/me", headers={"Authorization": f"Bearer {tokens[0]}"}
        )
        if status != 200:
            raise RuntimeError(f"GET /api/v1/me with a fresh access token: {status} {body[:300]!r}")

        sample = minter.mint(1)[0]
        base_script = bench.script(baseline_script(sample))
        one_script = me_script(bench, tokens[:1])
        many_script = me_script(bench, tokens)
        warm = 1 if bench.seconds <= 2 else 2
        # Warm-up, and the calibration of the assertion pool: what rate can the token endpoint take?
        bench.wrk(baseline, "/oauth2/token", base_script, seconds=warm)
        calibration = bench.wrk(service, "/oauth2/token", token_script(bench, minter.mint(3000 * warm)), seconds=warm)
        rate = max(pool_rate(calibration), 100.0)
        say(f"calibration, POST /oauth2/token: {rate:,.0f} req/s with fresh assertions")
        bench.wrk(service, "/api/v1/me", one_script, seconds=1)
        token_seconds = bench.seconds
        needed = math.ceil(rate * token_seconds * 1.5)
        if needed > max_assertions:
            token_seconds = max(1, math.floor(max_assertions / (rate * 1.5)))
            needed = math.ceil(rate * token_seconds * 1.5)
            say(
                f"assertion pool capped at {max_assertions:,} (--max-assertions): "
                f"token run shortened to {token_seconds} s"
            )
        pool_size = [needed]

        def fresh_assertions() -> Path:
            return token_script(bench, minter.mint(pool_size[0]))

        runs: list[Run] = []

        def measure(
            label: str, server: Server, path: str, script: Callable[[], Path], seconds: int | None = None
        ) -> None:
            """One run; again once if one worker took all connections, and if the assertions ran out."""
            for attempt in range(3):
                result, cpu = bench.measure(server, path, script(), seconds=seconds)
                say(f"{label}: {describe(result)}; server CPU % {cpu_text(cpu)}")
                if result.exhausted and attempt < 2:
                    pool_size[0] = math.ceil(pool_rate(result) * (seconds or bench.seconds) * 1.5)
                    say(f"the assertion pool ran out: again with {pool_size[0]:,} (this run is discarded)")
                    continue
                if uneven(cpu) and attempt == 0:
                    say("one worker took all of wrk's connections: again (this run is discarded)")
                    continue
                break
            runs.append(Run(label, workers, result, server, cpu))

        def base() -> Path:
            return base_script

        measure("baseline", baseline, "/oauth2/token", base)
        measure("POST /oauth2/token", service, "/oauth2/token", fresh_assertions, token_seconds)
        measure("baseline", baseline, "/oauth2/token", base)
        measure("GET /api/v1/me (1 token)", service, "/api/v1/me", lambda: one_script)
        measure(f"GET /api/v1/me ({len(tokens):,} tokens)", service, "/api/v1/me", lambda: many_script)
        measure("baseline", baseline, "/oauth2/token", base)
        return runs
    finally:
        servers.stop(service)
        servers.stop(baseline)


# --- report ---------------------------------------------------------------------------------------


def _verdict(label: str) -> float | None:
    if label.startswith("POST /oauth2/token"):
        return TOKEN_TARGET
    if label.startswith("GET /api/v1/me"):
        return ME_TARGET
    return None


def print_table(runs: Sequence[Run], *, cache_note: Callable[[str, int], str]) -> None:
    """One row per run; the baseline row is the median of its interleaved runs."""
    print(
        f"  {'target':<36} {'workers':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU %':>7} "
        f"{'µs/req':>7} "
        f"{'vs baseline':>12} {'target':>7}  verdict"
    )
    flagged = False
    for workers in sorted({r.workers for r in runs}):
        mine = [r for r in runs if r.workers == workers]
        base = [r for r in mine if r.label == "baseline"]
        reference = statistics.median(r.result.rps for r in base)
        middle = sorted(base, key=lambda r: r.result.rps)[len(base) // 2]
        runs_text = " / ".join(f"{r.result.rps:,.0f}" + ("*" if uneven(r.cpu) else "") for r in base)
        flag = "*" if uneven(middle.cpu) else ""
        flagged = flagged or any(uneven(r.cpu) for r in mine)
        print(
            f"  {BASELINE_LABEL:<36} {workers:>7} {reference:>9,.0f} {middle.result.p50_ms:>8.2f} "
            f"{middle.result.p99_ms:>8.2f} {sum(r.result.errors for r in base):>7} "
            f"{cpu_text(middle.cpu) + flag:>7} {cpu_us_text(middle):>7} "
            f"{'100%':>12} {'':>7}  median of {runs_text}"
        )
        for run in mine:
            if run.label == "baseline":
                continue
            result, target = run.result, _verdict(run.label)
            ratio = result.rps / reference
            verdict = "" if target is None else ("PASS" if ratio >= target and result.errors == 0 else "MISS")
            flag = "*" if uneven(run.cpu) else ""
            print(
                f"  {run.label:<36} {workers:>7} {result.rps:>9,.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
                f"{result.errors:>7} {cpu_text(run.cpu) + flag:>7} {cpu_us_text(run):>7} {ratio:>12.0%} "
                f"{'' if target is None else f'>={target:.0%}':>7}  {verdict}" + cache_note(run.label, workers)
            )
    print(
        "  CPU %: each server worker's CPU time over the run's wall time (wrk shares the same cores); "
        "µs/req: server CPU time per request."
    )
    if flagged:
        print(
            "  *: one worker did nearly all the work: wrk's keep-alive connections all landed on it (the workers "
            "share one listening socket), so that run measured ~1 worker."
        )


def report_errors(runs: Sequence[Run]) -> int:
    failing = [r for r in runs if r.result.errors]
    for run in failing:
        result = run.result
        print(
            f"ERROR: {run.label}, {run.workers} worker(s): {result.errors} errors of {result.requests:,} requests "
            f"(connect {result.connect_errors}, read {result.read_errors}, write {result.write_errors}, "
            f"timeout {result.timeouts}, non-2xx {result.status_errors}, pool exhausted {result.exhausted})"
        )
        suspicious = [
            line
            for line in run.server.log_text().splitlines()
            if any(word in line for word in ("Traceback", "ERROR", "Error", "Exception", "WARNING"))
        ]
        if suspicious:
            print(f"  {run.server.name} log, {len(suspicious)} suspicious lines; the last ones:")
            for line in suspicious[-15:]:
                print("    " + line)
    return len(failing)


# --- modes ----------------------------------------------------------------------------------------


def main_service(args: argparse.Namespace, workdir: Path, servers: Servers) -> int:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from forcegate.keys import generate_certificate, write_bundle

    entry = generate_certificate(cn=CERT_NAME, key_size=2048)
    paths = write_bundle(entry, directory=workdir, name="bench", password=b"benchmark-only")
    assert entry.private_key is not None
    assert entry.certificate is not None
    key_pem = entry.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    certificate_pem = entry.certificate.public_bytes(Encoding.PEM)
    forcegate = forcegate_instance(workdir, paths.certificate)
    say(f"forcegate data folder {forcegate.data_dir}, org {ORG_ID} with certificate {CERT_NAME} registered")

    runs: list[Run] = []
    state: dict[str, object] = {}
    initargs = (key_pem, certificate_pem, ORG_ID, forcegate.audience)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2, initializer=_init_minter, initargs=initargs) as pool:
        minter = Minter(pool)
        for workers in args.workers:
            runs += measure_workers(
                Bench(workdir, seconds=args.seconds, connections=args.connections, verbose=args.verbose),
                servers,
                forcegate,
                minter,
                workers,
                many_tokens=args.many_tokens,
                max_assertions=args.max_assertions,
                state=state,
            )

    def cache_note(label: str, workers: int) -> str:
        if "tokens)" not in label:
            return ""
        return (
            "  (round-robin beyond the per-worker cache: uncached)"
            if args.many_tokens > ACCESS_TOKEN_CACHE * workers
            else f"  (fits the {ACCESS_TOKEN_CACHE:,}-token cache: mostly cached)"
        )

    print()
    print(
        f"HTTP on loopback, wrk 1 thread x {args.connections} connections, {args.seconds} s per run, "
        f"{os.cpu_count()} cores shared by wrk and the server"
    )
    print_table(runs, cache_note=cache_note)
    if not report_errors(runs):
        return 0
    # The service records every refusal in its audit log: show what it refused, and why.
    denied = [line for line in forcegate.cli("audit", "--limit", "1000").splitlines() if " denied " in line]
    if denied:
        print(f"  forcegate audit: {len(denied)} of the last 1,000 events denied; the newest:")
        for line in denied[:10]:
            print("    " + line)
    return 1


def main_frameworks(args: argparse.Namespace, workdir: Path, servers: Servers) -> int:
    """Raw ASGI vs Starlette (body / form) on uvicorn, and raw ASGI on granian: the framework's cost."""
    from _baseline_app import fixed_token
    from cryptography.hazmat.primitives.asymmetric import rsa

    sample = fixed_token(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    bench = Bench(workdir, seconds=args.seconds, connections=args.connections, verbose=args.verbose)
    script = bench.script(baseline_script(sample))
    # Starlette parses forms with python-multipart (module python_multipart, formerly multipart).
    has_multipart = any(importlib.util.find_spec(name) for name in ("python_multipart", "multipart"))
    if not has_multipart:
        say("python-multipart is not installed: the starlette-form contender is skipped")
    runs: list[Run] = []
    for workers in args.workers:
        say(f"--- {workers} worker(s) ---")
        contenders: list[tuple[str, Server]] = []
        try:
            for mode in ("raw", "starlette-body", "starlette-form"):
                if mode == "starlette-form" and not has_multipart:
                    continue
                contenders.append((f"uvicorn {mode}", servers.start(baseline_server(workdir, workers, mode))))
            granian = granian_server(workdir, workers)
            if granian is None:
                say("granian is not installed: the granian contender is skipped")
            else:
                contenders.append(("granian raw", servers.start(granian)))
            for _, server in contenders:
                bench.wrk(server, "/oauth2/token", script, seconds=1)  # warm-up
            for round_ in range(args.rounds):
                for label, server in contenders:
                    for attempt in range(2):
                        result, cpu = bench.measure(server, "/oauth2/token", script)
                        say(f"round {round_ + 1}, {label}: {describe(result)}; server CPU % {cpu_text(cpu)}")
                        if not uneven(cpu) or attempt:
                            break
                        say("one worker took all of wrk's connections: again (this run is discarded)")
                    runs.append(Run(label, workers, result, server, cpu))
        finally:
            for _, server in contenders:
                servers.stop(server)

    print()
    print(
        f"POST /oauth2/token-shaped requests, each: read body, 1 RS256 verify, small JSON; wrk 1 thread x "
        f"{args.connections} connections, {args.seconds} s per run, {args.rounds} interleaved rounds (medians)"
    )
    print(
        f"  {'contender':<24} {'workers':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'vs raw':>8} {'µs/req':>7}  CPU %"
    )
    for workers in args.workers:
        mine = [r for r in runs if r.workers == workers]
        labels = list(dict.fromkeys(r.label for r in mine))
        base = [r.result.rps for r in mine if r.label == "uvicorn raw"]
        for label in labels:
            own = [r for r in mine if r.label == label]
            rps = statistics.median(r.result.rps for r in own)
            ratio = statistics.median(r.result.rps / b for r, b in zip(own, base, strict=True))
            p50 = statistics.median(r.result.p50_ms for r in own)
            p99 = statistics.median(r.result.p99_ms for r in own)
            errors = sum(r.result.errors for r in own)
            shares = ", ".join(cpu_text(r.cpu) + ("*" if uneven(r.cpu) else "") for r in own)
            costs = [c for c in (cpu_per_request(r) for r in own) if c is not None]
            cost = f"{statistics.median(costs):.0f}" if costs else "-"
            print(
                f"  {label:<24} {workers:>7} {rps:>9,.0f} {p50:>8.2f} {p99:>8.2f} {errors:>7} {ratio:>8.0%} {cost:>7}  "
                + shares
            )
    print(
        "  µs/req: server CPU time per request (median of rounds); CPU %: each worker's CPU time over wall time, "
        "per round; *: one worker took (nearly) all connections."
    )
    return 1 if report_errors(runs) else 0


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of worker counts") from None
    if not counts or any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError("worker counts must be positive")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each measured wrk run (default 8)")
    parser.add_argument("--quick", action="store_true", help="a ~2 s smoke run (2 s runs, 3,000 tokens)")
    parser.add_argument("--workers", type=_worker_counts, default=[1, 2], help="server worker counts (default 1,2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--many-tokens",
        type=int,
        default=2 * ACCESS_TOKEN_CACHE + 4_000,
        help="distinct access tokens for the uncached /api/v1/me run (default: beyond 2 workers' caches)",
    )
    parser.add_argument(
        "--max-assertions", type=int, default=60_000, help="cap on assertions minted for one token run (default 60,000)"
    )
    parser.add_argument("--frameworks", action="store_true", help="measure raw ASGI vs Starlette vs granian instead")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds in --frameworks mode (default 2)")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own report of every run")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2
        args.many_tokens = min(args.many_tokens, 3_000)
        args.rounds = 1
    if args.seconds < 1 or args.connections < 1:
        parser.error("--seconds and --connections must be at least 1")

    try:
        wrk_path()
    except WrkMissing:
        print(
            "bench_http.py needs wrk (https://github.com/wg/wrk), which is not installed: "
            "`apt-get install wrk` on Debian/Ubuntu, `brew install wrk` on macOS.",
            file=sys.stderr,
        )
        return 2

    servers = Servers()

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    mode: Callable[[argparse.Namespace, Path, Servers], int] = main_frameworks if args.frameworks else main_service
    with tempfile.TemporaryDirectory(prefix="forcegate-bench-http-") as tmp:
        try:
            return mode(args, Path(tmp), servers)
        except RuntimeError as exc:  # a server that does not start or answer, a refused setup step
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
        finally:
            servers.stop_all()


if __name__ == "__main__":
    sys.exit(main())
