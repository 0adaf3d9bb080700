"""Load for benchmarks/bench_http.py: assertions, access tokens, wrk runs and the servers' CPU time.

Assertions are minted with the Apex emulator in a process pool (RS256 signing is the slow part);
access tokens are fetched with a small asyncio HTTP/1.1 client; :class:`Bench` writes wrk's scripts
and measures one run with the CPU time the server's processes spent on it (from /proc).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
from _http_servers import CERT_NAME, HOST, Server
from _wrk import WrkResult, pool_script, run_wrk, static_script

FORM_PREFIX = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


def say(message: str) -> None:
    print(f"# {message}", flush=True)


# --- assertions: minted in a process pool ---------------------------------------------------------

_minter: tuple[object, str, str] | None = None  # (CertificateAndKeyManagement, iss, aud) per pool process


def init_minter(key_pem: bytes, certificate_pem: bytes, issuer: str, audience: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from forcegate.devtools import CertificateAndKeyManagement

    key = load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    store = CertificateAndKeyManagement()
    store.add(CERT_NAME, private_key=key, certificate=x509.load_pem_x509_certificate(certificate_pem))
    global _minter
    _minter = (store, issuer, audience)


def _mint_range(job: tuple[int, int, tuple[str, ...], str | None]) -> list[str]:
    """Assertions ``start .. stop - 1``: each its own ``sub``, so no two are the same token.

    Assertion ``n`` is issued by ``issuers[n % len(issuers)]`` (default: the pool's issuer) for
    ``audience`` (default: the pool's audience).
    """
    from forcegate.devtools import AuthJWS, AuthJWT, CertificateAndKeyManagement

    assert _minter is not None
    store, default_issuer, default_audience = _minter
    assert isinstance(store, CertificateAndKeyManagement)
    start, stop, issuers, audience = job
    issuers = issuers or (default_issuer,)
    minted = []
    for n in range(start, stop):
        jwt = AuthJWT(
            iss=issuers[n % len(issuers)],
            sub=f"bench.user{n}@example.com",
            aud=audience or default_audience,
            validity_length=300,
        )
        minted.append(AuthJWS(jwt, CERT_NAME, certificates=store).compact_serialization())
    return minted


class Minter:
    """Apex-shaped assertions (RS256, 300 s validity), numbered across the run so all differ."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool
        self._next = 0

    def mint(self, count: int, *, issuers: Sequence[str] = (), audience: str | None = None) -> list[str]:
        """``count`` assertions; ``issuers``/``audience`` override the pool's (issuers taken in turn)."""
        start, self._next = self._next, self._next + count
        chosen = tuple(issuers)
        jobs = [(n, min(n + 500, start + count), chosen, audience) for n in range(start, start + count, 500)]
        began = time.perf_counter()
        minted = [token for chunk in self._pool.map(_mint_range, jobs) for token in chunk]
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
