"""Where the time of the hot endpoints goes: py-spy samples of a ``forcegate serve`` worker under wrk.

One worker on the embedded default (the per-org rate limit and the failure limits on, metrics on, as
deployed), driven by wrk (32 connections) with a new assertion per token request, then with
24,000 distinct access tokens round-robin at ``GET /api/v1/me`` (more than the verified-token cache
holds: the uncached path). py-spy samples the worker (``--idle`` off: only on-CPU time) and each
sample's innermost recognisable frame puts it in a category; the table gives each category's share
and, with the worker's CPU time per request (/proc), its microseconds per request.

    .venv/bin/python benchmarks/profile_endpoints.py [--seconds 8] [--flat 15]

Needs wrk (apt) and py-spy (pip; ptrace: run as root or with CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http_load import Bench, Minter, fetch_access_tokens, init_minter, me_script, say, token_script
from _http_servers import ORG_ID, Servers, bench_org, forcegate_instance
from load._profile import raw_stacks

# (category, substrings of a frame "function (file)"): the first that matches the innermost frames wins.
# Time in cryptography's and sqlite3's native code is counted to the Python frame that called it (py-spy
# without --native), so the categories name those call sites. The first category matching the
# innermost frame wins; if none does, the next frame outwards is tried.
CATEGORIES: Sequence[tuple[str, tuple[str, ...]]] = (
    ("RS256 verify of the assertion (cryptography)", ("_rsa.<locals>.verify",)),
    ("ES256 verify of an access token (cryptography)", ("_ecdsa.<locals>.verify",)),
    # _es256 signs: the token at issue, and the service's check of its own token (decision 0019).
    ("ES256 sign: the token, or the check of one (cryptography)", ("_es256 (", "AccessTokenIssuer.issue")),
    ("SQLite: statements and COMMIT", ("sqlite_db.py", "record_grant.<locals>.unit", "sqlite3")),
    ("metrics", ("metric_series.py", "metrics.py", "observability.py", "instrumented.py")),
    ("HTTP (uvicorn, httptools, forcegate's protocol)", ("httptools", "uvicorn", "server/protocol.py")),
    ("event loop (uvloop, asyncio)", ("uvloop", "asyncio", "selectors", "events.py")),
    ("forcegate: core (parsing, claims, grant)", ("forcegate/core/",)),
    ("forcegate: service", ("forcegate/service/",)),
    ("forcegate: stores (Python side)", ("forcegate/stores/",)),
    ("forcegate: server (dispatch, request, responses)", ("forcegate/server/",)),
)


def categorize(stack: list[str]) -> str:
    for frame in reversed(stack):  # innermost first
        for name, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def profile(pid: int, seconds: float, out: Path) -> None:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    subprocess.run(  # noqa: S603 - fixed argv
        [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
         "--format", "raw", "--nonblocking", "--output", str(out)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarize(raw: Path, title: str, us_per_request: float | None, flat: int) -> None:
    shares: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for stack, count in raw_stacks(raw):
        shares[categorize(stack)] += count
        leaves[stack[-1]] += count
        total += count
    print(
        f"\n{title}: {total} samples" + (f", {us_per_request:.0f} µs worker CPU per request" if us_per_request else "")
    )
    for name, count in shares.most_common():
        share = count / total
        micro = f"{share * us_per_request:7.1f} µs" if us_per_request else ""
        print(f"  {share:6.1%} {micro}  {name}")
    print(f"  innermost frames, top {flat}:")
    for frame, count in leaves.most_common(flat):
        print(f"    {count / total:6.1%}  {frame[:110]}")


def main(seconds: int, flat: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="forcegate-profile-"))
    servers = Servers()
    try:
        org = bench_org(workdir)
        key_pem, cert_path = org.key_pem, org.certificate_path
        instance = forcegate_instance(workdir, cert_path, rate_limit=1_000_000)
        service = servers.start(instance.server(workdir, 1))
        assert service.process is not None
        bench = Bench(workdir, seconds=seconds, connections=32, verbose=False)
        with ProcessPoolExecutor(
            initializer=init_minter, initargs=(key_pem, org.certificate_pem, ORG_ID, instance.audience)
        ) as pool:
            minter = Minter(pool)
            tokens = fetch_access_tokens(service.port, minter.mint(24_000))
            token_load = token_script(bench, minter.mint(6000 * seconds))
        me_load = me_script(bench, tokens)
        worker = _worker_pid(service.process.pid)
        for title, path, script in (
            ("POST /oauth2/token (a new assertion each)", "/oauth2/token", token_load),
            ("GET /api/v1/me (24,000 tokens: uncached)", "/api/v1/me", me_load),
        ):
            raw = workdir / f"{path.strip('/').replace('/', '_')}.txt"
            sampler = threading.Thread(target=profile, args=(worker, seconds - 1, raw))
            sampler.start()
            result, shares = bench.measure(service, path, script)
            sampler.join()
            cpu_us = sum(shares) / 100 * result.duration_s / result.requests * 1e6 if result.requests else None
            say(f"{title}: {result.rps:,.0f} req/s, errors {result.errors}")
            summarize(raw, title, cpu_us, flat)
        return 0
    finally:
        servers.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def _worker_pid(parent: int) -> int:
    """With one worker, ``forcegate serve`` serves in its own process."""
    return parent


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--flat", type=int, default=15)
    arguments = parser.parse_args()
    sys.exit(main(arguments.seconds, arguments.flat))
