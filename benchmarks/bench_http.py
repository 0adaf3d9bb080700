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
    .venv/bin/python benchmarks/bench_http.py --protocols    # raw ASGI under each HTTP protocol / server
    .venv/bin/python benchmarks/bench_http.py --http h11     # the service under another uvicorn protocol

``--variant NAME=SOURCE_TREE`` (repeatable) serves forcegate from each checkout's ``src/`` (first on
the server's PYTHONPATH), one server per variant on the same data folder, their runs interleaved
endpoint by endpoint, so a change to a hot path is judged in one run (single runs on these machines
move by 30%): ``--workers 1 --rounds 3 --variant new=. --variant old=../old-checkout``.

``--http`` (decision 0012) runs the service under benchmarks/_protocol_server.py with uvicorn's
``httptools`` (as before the connection limits), forcegate's ``limited`` protocol or ``h11``, instead
of ``forcegate serve``; the baseline stays uvicorn's httptools.

wrk comes from the distribution (``apt-get install wrk``); it is not part of CI.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http_frameworks import main_frameworks, main_protocols
from _http_load import (
    Bench,
    Minter,
    Run,
    baseline_script,
    cpu_text,
    cpu_us_text,
    describe,
    fetch_access_tokens,
    init_minter,
    me_script,
    pool_rate,
    report_errors,
    say,
    token_script,
    uneven,
)
from _http_servers import (
    CERT_NAME,
    ORG_ID,
    Forcegate,
    Server,
    Servers,
    baseline_server,
    forcegate_instance,
    free_port,
    http_exchange,
    source_variant,
)
from _protocol_server import PROTOCOLS
from _wrk import WrkMissing, wrk_path

ACCESS_TOKEN_CACHE = 10_000  # AccessTokenVerifier's default cache_size (per worker process)
TOKEN_TARGET = 0.60
ME_TARGET = 0.80
BASELINE_LABEL = "baseline (raw ASGI, 1 RS256 verify)"


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
    https: Sequence[str] = ("serve",),
    variants: Sequence[tuple[str, Path]] = (),
    rounds: int = 1,
) -> list[Run]:
    """Start the servers with ``workers`` workers, warm up, calibrate, measure (interleaved), stop.

    ``https``: one service per entry (``serve`` or a protocol of _protocol_server.py), all on the same
    data folder and public URL, each on its own port; their runs are interleaved endpoint by endpoint.
    ``variants``: each of those once per source tree (``--variant``), interleaved the same way.
    ``rounds``: the whole sequence that many times (the table shows each row's median).
    """
    say(f"--- {workers} worker(s) ---")
    baseline = servers.start(baseline_server(bench.workdir, workers))
    services: dict[str, Server] = {}
    trees: Sequence[tuple[str, Path | None]] = variants or [("", None)]
    try:
        for http in https:
            for name, tree in trees:
                key = " ".join(part for part in (http if len(https) > 1 else "", name) if part) or http
                port = free_port() if services else None
                services[key] = servers.start(forcegate.server(bench.workdir, workers, http, port=port, tree=tree))
        service = next(iter(services.values()))
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
        for warming in services.values():
            bench.wrk(warming, "/api/v1/me", one_script, seconds=1)
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

        def each(label: str, turn: int) -> list[tuple[str, Server]]:
            """The services in this round's order: rotated each round, so that none always runs first
            (measured: the second of two identical-order runs read 5 to 20% faster, whichever tree it was)."""
            named = [(label if len(services) == 1 else f"{label} [{key}]", server) for key, server in services.items()]
            shift = turn % len(named)
            return named[shift:] + named[:shift]

        for turn in range(rounds):
            measure("baseline", baseline, "/oauth2/token", base)
            for label, server in each("POST /oauth2/token", turn):
                measure(label, server, "/oauth2/token", fresh_assertions, token_seconds)
            measure("baseline", baseline, "/oauth2/token", base)
            for label, server in each("GET /api/v1/me (1 token)", turn):
                measure(label, server, "/api/v1/me", lambda: one_script)
            for label, server in each(f"GET /api/v1/me ({len(tokens):,} tokens)", turn):
                measure(label, server, "/api/v1/me", lambda: many_script)
            measure("baseline", baseline, "/oauth2/token", base)
        return runs
    finally:
        for server in services.values():
            servers.stop(server)
        servers.stop(baseline)


# --- report ---------------------------------------------------------------------------------------


def _verdict(label: str) -> float | None:
    if label.startswith("POST /oauth2/token"):
        return TOKEN_TARGET
    if label.startswith("GET /api/v1/me"):
        return ME_TARGET
    return None


def print_table(runs: Sequence[Run], *, cache_note: Callable[[str, int], str]) -> None:
    """One row per label: the median run of its interleaved runs (by req/s), the baseline's included."""
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
        for label in dict.fromkeys(r.label for r in mine if r.label != "baseline"):
            own = [r for r in mine if r.label == label]
            run = sorted(own, key=lambda r: r.result.rps)[len(own) // 2]
            result, target = run.result, _verdict(run.label)
            errors = sum(r.result.errors for r in own)
            ratio = result.rps / reference
            verdict = "" if target is None else ("PASS" if ratio >= target and errors == 0 else "MISS")
            flag = "*" if uneven(run.cpu) else ""
            rounds = "" if len(own) == 1 else "  median of " + " / ".join(f"{r.result.rps:,.0f}" for r in own)
            print(
                f"  {run.label:<36} {workers:>7} {result.rps:>9,.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
                f"{errors:>7} {cpu_text(run.cpu) + flag:>7} {cpu_us_text(run):>7} {ratio:>12.0%} "
                f"{'' if target is None else f'>={target:.0%}':>7}  {verdict}" + cache_note(run.label, workers) + rounds
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


def print_variants(runs: Sequence[Run], names: Sequence[str]) -> None:
    """Each endpoint's variants side by side, round by round: req/s and server CPU per request, and each
    variant's req/s against the first's (the median of the per-round ratios: round i of each variant
    ran back to back, so the machine's drift cancels)."""
    if len(names) < 2:
        return
    print()
    print(f"  variants, round by round (req/s against {names[0]}'s in the same round; CPU µs per request):")
    for workers in sorted({r.workers for r in runs}):
        labels = [r.label for r in runs if r.workers == workers and r.label.endswith(f" [{names[0]}]")]
        for label in dict.fromkeys(labels):
            endpoint = label.removesuffix(f" [{names[0]}]")
            first = [r for r in runs if r.workers == workers and r.label == label]
            print(f"  {endpoint}, {workers} worker(s)")
            for name in names:
                own = [r for r in runs if r.workers == workers and r.label == f"{endpoint} [{name}]"]
                ratios = [o.result.rps / f.result.rps for o, f in zip(own, first, strict=True)]
                print(
                    f"    {name:<12} req/s {' / '.join(f'{r.result.rps:,.0f}' for r in own):<28} "
                    f"CPU µs {' / '.join(cpu_us_text(r) for r in own):<18} "
                    f"vs {names[0]}: {statistics.median(ratios):.3f}"
                )


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
    forcegate = forcegate_instance(workdir, paths.certificate, rate_limit=args.rate_limit)
    say(f"forcegate data folder {forcegate.data_dir}, org {ORG_ID} with certificate {CERT_NAME} registered")

    runs: list[Run] = []
    state: dict[str, object] = {}
    initargs = (key_pem, certificate_pem, ORG_ID, forcegate.audience)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2, initializer=init_minter, initargs=initargs) as pool:
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
                https=args.http,
                variants=args.variant,
                rounds=args.rounds,
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
        + ("" if args.http == ["serve"] else f"; the service as {' / '.join(args.http)} (--http)")
    )
    print_table(runs, cache_note=cache_note)
    print_variants(runs, [name for name, _ in args.variant])
    if not report_errors(runs):
        return 0
    # The service records every refusal in its audit log: show what it refused, and why.
    denied = [line for line in forcegate.cli("audit", "--limit", "1000").splitlines() if " denied " in line]
    if denied:
        print(f"  forcegate audit: {len(denied)} of the last 1,000 events denied; the newest:")
        for line in denied[:10]:
            print("    " + line)
    return 1


def _https(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(names) - {"serve", *PROTOCOLS})
    if not names or unknown or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: distinct names among serve, {', '.join(PROTOCOLS)}")
    return names


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
        "--rate-limit",
        type=int,
        default=0,
        help="the service's token_rate_limit (default 0: off; 1000000 counts every assertion without refusing)",
    )
    parser.add_argument(
        "--max-assertions", type=int, default=60_000, help="cap on assertions minted for one token run (default 60,000)"
    )
    parser.add_argument("--frameworks", action="store_true", help="measure raw ASGI vs Starlette vs granian instead")
    parser.add_argument(
        "--protocols",
        action="store_true",
        help="measure raw ASGI under uvicorn httptools / limited / h11, granian, hypercorn instead",
    )
    parser.add_argument(
        "--http",
        type=_https,
        default=["serve"],
        help="run the service as `forcegate serve` (default) or under these uvicorn protocols, comma-separated "
        f"({', '.join(PROTOCOLS)}; _protocol_server.py), runs interleaved",
    )
    parser.add_argument(
        "--variant",
        type=source_variant,
        action="append",
        default=[],
        metavar="NAME=SOURCE_TREE",
        help="serve forcegate from SOURCE_TREE/src (repeatable: each variant one more server on the same data, "
        "its runs interleaved with the others'); variants must share the schema version",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved rounds (default 2 in --frameworks/--protocols mode, else 1)",
    )
    parser.add_argument("--verbose", action="store_true", help="print wrk's own report of every run")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2
        args.many_tokens = min(args.many_tokens, 3_000)
        args.rounds = 1
    if args.rounds is None:
        args.rounds = 2 if args.frameworks or args.protocols else 1
    if args.seconds < 1 or args.connections < 1 or args.rounds < 1:
        parser.error("--seconds, --connections and --rounds must be at least 1")

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
    mode: Callable[[argparse.Namespace, Path, Servers], int] = main_service
    if args.frameworks:
        mode = main_frameworks
    elif args.protocols:
        mode = main_protocols
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
