"""Load harness (issue "Scale-out", item 5): a mixed workload against ``forcegate serve``, on loopback.

REQUIRES wrk (https://github.com/wg/wrk, built with LuaJIT as distributions ship it):
``apt-get install wrk`` (Debian/Ubuntu), ``brew install wrk`` (macOS). Not part of CI.

Backends (``--backend``; each in fresh places, removed afterwards, also on failure or Ctrl-C):

* ``embedded``: ``forcegate serve`` on a fresh temporary data folder (SQLite), 1 worker;
* ``scaled``: ``forcegate serve --workers 2`` on PostgreSQL (a fresh schema via ``search_path``, dropped
  afterwards) and Redis (a unique ``FORCEGATE_REDIS_PREFIX``, its keys deleted afterwards), with a
  fresh ``FORCEGATE_ENCRYPTION_KEY``. If the service does not take these settings, the backend is
  reported unavailable with the service's own message, and the run goes on.

Each registry size of ``--orgs`` (and each ``--variant``) gets its own instance of each backend, filled
through ``forcegate.stores.open_stores`` (timed) with N orgs sharing ONE certificate, and its own
server; all of them serve at once, and the measured runs are interleaved, ``--rounds`` times, across
backends too: ``baseline, mixed@10, baseline, mixed@100000, …, baseline``. A mixed run lasts
``--seconds`` and sends, by ``--mix`` weight:

* ``POST /oauth2/token``: a fresh single-use assertion per request, minted beforehand in a process pool;
* ``GET /api/v1/me`` with an Apex JWT sent directly (single use there too: minted beforehand as well);
* ``GET /api/v1/me`` with access tokens, one per org, obtained from the token endpoint beforehand;
* ``POST /canvas`` with signed requests made by ``forcegate.devtools`` (303 is its success).

The credentials come from ``--active-orgs`` orgs spread evenly over the whole registry, so the
service's per-org caches hold that many entries. Per-endpoint status and latency are measured inside
wrk, per request (one connection per wrk thread: see _workload.py); the latencies are as measured,
without wrk's coordinated-omission correction. Before the rounds, a ``--warmup`` run per instance
fills the caches and measures the rate the single-use pools are sized from (x2); a measured run
whose pool ran out is repeated once with a larger pool.

The baseline is bench_http's trivial app (_baseline_app.py: raw ASGI, one RS256 verify per request)
with as many workers and the same wrk settings, measured just before and after every mixed run: the
machine is shared and noisy, so each mixed run is also given as a share of its baselines. The
registry-size target (throughput at the largest size within 10% of the smallest's) is judged on the
median of the round-by-round ratios (round i of each size ran back to back); the server's CPU time per
request is printed beside it (steadier than req/s on a shared machine), with its system (kernel) part.
With both backends, the scaled workers' CPU per request is compared with the embedded worker's, round
by round (the scale-out issue's target: at most 1.5x). Each worker's VmRSS and VmHWM
(/proc/PID/status) is read after the rounds.

``--variant NAME=SOURCE_TREE`` (repeatable) serves forcegate from ``SOURCE_TREE/src`` (first on the
server's PYTHONPATH): one instance per variant, interleaved with the others, and a table of each
variant's CPU per request against the first's, round by round. The registry is filled by the
forcegate this script imports: variants must share its schema version. ``--profile`` samples every
worker with py-spy during the measured runs and prints where the CPU per request goes (_profile.py).

    .venv/bin/python benchmarks/load/run.py [--backend embedded|scaled|both] [--orgs 10,100000]
        [--seconds 10] [--rounds 3] [--mix token=20,jwt=10,api=60,canvas=10] [--connections 16]
        [--variant NAME=SOURCE_TREE ...] [--profile]

Exit status: 0; 1 when a measured run had errors or a backend was unavailable (a missed target is
reported, not fatal); 2 without wrk; 130 when interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/: _http_*, _wrk, load.*

import argparse
import contextlib
import os
import signal
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from _http_load import Minter, baseline_script, say
from _http_servers import CERT_NAME, Servers, baseline_server, free_port, source_variant
from _wrk import WrkMissing, wrk_path
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from load._backends import Backend, BackendUnavailable, embedded_backend, scaled_backend
from load._measure import Context, Instance, fill_registry, init_pool_process, measure, prepare_instance
from load._report import Phase, print_backends, print_comparison, print_phase, print_variants
from load._workload import Mix


def run_all(ctx: Context, names: Sequence[str], failures: list[str]) -> list[Phase]:
    """Every instance (backend x variant x registry size): fill, serve, warm up; then the rounds, all
    instances interleaved. A backend that cannot be set up is reported in ``failures``; the rest run."""
    args = ctx.args
    variants: list[tuple[str, Path] | None] = list(args.variant) or [None]
    with contextlib.ExitStack() as stack:
        instances: list[Instance] = []
        for name in names:
            try:
                filled: list[tuple[Backend, int, float]] = []
                for variant in variants:
                    for size in args.orgs:
                        tag = f"{size}-orgs" + (f"-{variant[0]}" if variant else "")
                        backend = stack.enter_context(_backend(ctx, name, tag))
                        if variant is not None:
                            backend.use_tree(*variant)
                        filled.append((backend, size, fill_registry(ctx, backend, size)))
                # Registered after the backend's places, so unwound first: the servers stop before the
                # schemas and keys go.
                stack.callback(ctx.servers.stop_all)
                say(f"--- {filled[0][0].label}: {', '.join(f'{s:,}' for _, s, _ in filled)} orgs ---")
                for backend, size, seconds in filled:
                    instances.append(prepare_instance(ctx, backend, size, seconds))
            except BackendUnavailable as exc:
                print(f"ERROR: the {name} backend is unavailable: {exc}", file=sys.stderr, flush=True)
                lines = [line for line in str(exc).splitlines() if line.strip()] or [""]
                failures.append(f"{name}: unavailable ({' … '.join(dict.fromkeys([lines[0], lines[-1]]))})")
                instances = [i for i in instances if i.backend.name != name]
        if not instances:
            return []
        sample = ctx.minter.mint(1, audience=instances[0].backend.token_endpoint)[0]
        base_script = ctx.write("baseline.lua", [baseline_script(sample)])
        baselines = {
            workers: (ctx.servers.start(baseline_server(ctx.workdir, workers)), base_script)
            for workers in sorted({i.backend.workers for i in instances})
        }
        return measure(ctx, instances, baselines)


def _backend(ctx: Context, name: str, tag: str) -> contextlib.AbstractContextManager[Backend]:
    args = ctx.args
    if name == "embedded":
        return embedded_backend(ctx.workdir, free_port(), tag=tag)
    return scaled_backend(
        ctx.workdir, free_port(), postgres=args.postgres, redis_url=args.redis, workers=args.workers, tag=tag
    )


def _orgs(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of registry sizes") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("registry sizes must be positive")
    return sizes


def _mix(text: str) -> Mix:
    try:
        return Mix.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add = parser.add_argument
    add("--backend", choices=("embedded", "scaled", "both"), default="embedded", help="default: embedded")
    add("--orgs", type=_orgs, default=[10, 100_000], help="registry sizes (default 10,100000)")
    add("--seconds", type=int, default=10, help="length of each measured mixed run (default 10)")
    add("--rounds", type=int, default=3, help="measured runs per registry size, interleaved (default 3)")
    add("--baseline-seconds", type=int, default=5, help="length of each baseline run (default 5)")
    add("--warmup", type=int, default=2, help="length of the warm-up run per instance (default 2)")
    add(
        "--mix",
        type=_mix,
        default=Mix.parse("token=20,jwt=10,api=60,canvas=10"),
        help="weights per kind (default token=20,jwt=10,api=60,canvas=10)",
    )
    add("--connections", type=int, default=16, help="wrk connections, one wrk thread each (default 16)")
    add("--active-orgs", type=int, default=1000, help="distinct orgs the credentials come from (default 1000)")
    add("--workers", type=int, default=2, help="server workers of the scaled backend (default 2)")
    add("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="scaled: PostgreSQL server")
    add("--redis", default="redis://127.0.0.1:6379/0", help="scaled: Redis server")
    add("--populate-concurrency", type=int, default=4, help="tasks adding orgs at once (default 4)")
    add("--max-assertions", type=int, default=100_000, help="cap per single-use pool (default 100,000)")
    add(
        "--variant",
        type=source_variant,
        action="append",
        default=[],
        metavar="NAME=SOURCE_TREE",
        help="serve forcegate from SOURCE_TREE/src (repeatable: each variant is one more instance, interleaved)",
    )
    add("--profile", action="store_true", help="py-spy every worker during the measured runs (needs root)")
    args = parser.parse_args()
    checked = (args.seconds, args.rounds, args.baseline_seconds, args.warmup, args.connections, args.active_orgs)
    if min(*checked, args.workers) < 1:
        parser.error("--seconds, --rounds, --baseline-seconds, --warmup, --connections, --active-orgs, --workers: >= 1")
    return args


def main() -> int:
    args = parse_args()
    try:
        wrk_path()
    except WrkMissing:
        print("run.py needs wrk, which is not installed: `apt-get install wrk` (Debian/Ubuntu).", file=sys.stderr)
        return 2

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from forcegate.keys import generate_certificate

    entry = generate_certificate(cn=CERT_NAME, key_size=2048)
    assert entry.private_key is not None
    assert entry.certificate is not None
    key_pem = entry.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    initargs = (key_pem, entry.certificate.public_bytes(Encoding.PEM))
    names = ["embedded", "scaled"] if args.backend == "both" else [args.backend]
    phases: list[Phase] = []
    failures: list[str] = []
    servers = Servers()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="forcegate-load-") as tmp,
            ProcessPoolExecutor(
                max_workers=os.cpu_count() or 2, initializer=init_pool_process, initargs=initargs
            ) as pool,
        ):
            ctx = Context(args, args.mix, Path(tmp), servers, Minter(pool), entry.certificate)
            phases += run_all(ctx, names, failures)
    except KeyboardInterrupt:
        print("interrupted: servers stopped; temporary folder, schemas and Redis keys removed", file=sys.stderr)
        return 130
    finally:
        servers.stop_all()
    return summarize(args, phases, failures)


def summarize(args: argparse.Namespace, phases: Sequence[Phase], failures: list[str]) -> int:
    """Every registry size's table, the size comparison; the exit status."""
    print()
    print(
        f"=== forcegate load: mix {args.mix.text()}; wrk {args.connections} connections, one thread each; "
        f"{args.rounds} x {args.seconds} s per registry size; {os.cpu_count()} cores shared by wrk and the servers ==="
    )
    for phase in phases:
        print_phase(phase, args.mix)
    misses = print_comparison(phases) if phases else []
    print_variants(phases)
    misses += print_backends(phases)
    for phase in phases:
        if phase.errors:
            failures.append(f"{phase.label}, {phase.registry:,} orgs: {phase.errors} errors")
    print()
    for miss in misses:
        print(f"MISS (reported, not fatal): {miss}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
