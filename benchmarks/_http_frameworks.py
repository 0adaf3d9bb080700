"""The ``--frameworks`` and ``--protocols`` modes of benchmarks/bench_http.py: what the framework and server cost.

The baseline's request (read the body, 1 RS256 verify, small JSON), interleaved over contenders:

* ``--frameworks``: raw ASGI, Starlette (body, form) on uvicorn, and raw ASGI on granian; see
  docs/decisions/0008-service-framework.md;
* ``--protocols``: raw ASGI on uvicorn with its httptools protocol, forcegate's limited httptools
  protocol, and its h11 protocol; on granian (with its header deadline and buffer cap set) and on
  hypercorn when installed; see docs/decisions/0012-connection-limits.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
from collections.abc import Callable
from pathlib import Path

from _http_load import (
    Bench,
    Run,
    baseline_script,
    cpu_per_request,
    cpu_text,
    describe,
    report_errors,
    say,
    uneven,
)
from _http_servers import Server, Servers, baseline_server, granian_server, hypercorn_server, protocol_server

# One worker count's contenders, started (the first is the reference of the "vs raw" column).
Contenders = Callable[[Servers, Path, int], list[tuple[str, Server]]]


def main_frameworks(args: argparse.Namespace, workdir: Path, servers: Servers) -> int:
    """Raw ASGI vs Starlette (body / form) on uvicorn, and raw ASGI on granian: the framework's cost."""
    # Starlette parses forms with python-multipart (module python_multipart, formerly multipart).
    has_multipart = any(importlib.util.find_spec(name) for name in ("python_multipart", "multipart"))
    if not has_multipart:
        say("python-multipart is not installed: the starlette-form contender is skipped")

    def contenders(servers: Servers, workdir: Path, workers: int) -> list[tuple[str, Server]]:
        started: list[tuple[str, Server]] = []
        for mode in ("raw", "starlette-body", "starlette-form"):
            if mode == "starlette-form" and not has_multipart:
                continue
            started.append((f"uvicorn {mode}", servers.start(baseline_server(workdir, workers, mode))))
        granian = granian_server(workdir, workers)
        if granian is None:
            say("granian is not installed: the granian contender is skipped")
        else:
            started.append(("granian raw", servers.start(granian)))
        return started

    return _compare(args, workdir, servers, contenders)


def main_protocols(args: argparse.Namespace, workdir: Path, servers: Servers) -> int:
    """Raw ASGI under each HTTP/1.1 implementation: what a protocol with connection limits costs."""

    def contenders(servers: Servers, workdir: Path, workers: int) -> list[tuple[str, Server]]:
        started = [("uvicorn raw", servers.start(baseline_server(workdir, workers)))]
        for http in ("httptools", "limited", "h11"):
            started.append((f"uvicorn {http}", servers.start(protocol_server(workdir, workers, http))))
        for label, server in (
            ("granian limits", granian_server(workdir, workers, limits=True)),
            ("hypercorn", hypercorn_server(workdir, workers)),
        ):
            if server is None:
                say(f"{label.split()[0]} is not installed: that contender is skipped")
            else:
                started.append((label, servers.start(server)))
        return started

    return _compare(args, workdir, servers, contenders)


def _compare(args: argparse.Namespace, workdir: Path, servers: Servers, contenders: Contenders) -> int:
    """Interleaved rounds of the baseline's request over each worker count's contenders; the table."""
    from _baseline_app import fixed_token
    from cryptography.hazmat.primitives.asymmetric import rsa

    sample = fixed_token(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    bench = Bench(workdir, seconds=args.seconds, connections=args.connections, verbose=args.verbose)
    script = bench.script(baseline_script(sample))
    runs: list[Run] = []
    for workers in args.workers:
        say(f"--- {workers} worker(s) ---")
        started: list[tuple[str, Server]] = []
        try:
            started = contenders(servers, workdir, workers)
            for _, server in started:
                bench.wrk(server, "/oauth2/token", script, seconds=1)  # warm-up
            for round_ in range(args.rounds):
                for label, server in started:
                    for attempt in range(2):
                        result, cpu = bench.measure(server, "/oauth2/token", script)
                        say(f"round {round_ + 1}, {label}: {describe(result)}; server CPU % {cpu_text(cpu)}")
                        if not uneven(cpu) or attempt:
                            break
                        say("one worker took all of wrk's connections: again (this run is discarded)")
                    runs.append(Run(label, workers, result, server, cpu))
        finally:
            for _, server in started:
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
        base = [r.result.rps for r in mine if r.label == labels[0]]
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
