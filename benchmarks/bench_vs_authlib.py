"""forcegate's token endpoint against a typical Python one: Authlib's ``JWTBearerGrant`` on Flask + gunicorn.

Both serve ``POST /oauth2/token`` for the same org and certificate with 2 worker processes on
127.0.0.1, both record single use and the issued token durably before answering (the peer:
benchmarks/_authlib_peer.py, one SQLite transaction per grant; forcegate: its embedded default, with
its per-org rate limit and failure limits on as deployed, and its metrics on). wrk sends every
request a different RS256 assertion minted for that server's audience (Apex-shaped, by the emulator)
and only 2xx answers are counted, in interleaved rounds (the ratio is the median of per-round
ratios: the machine is shared and noisy).

    .venv/bin/python benchmarks/bench_vs_authlib.py [--rounds 3] [--seconds 5] [--connections 32]

Needs wrk (``apt-get install wrk``) and gunicorn (in the dev extra).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http_load import Bench, Minter, init_minter, pool_rate, say, token_script
from _http_servers import HOST, ORG_ID, Server, Servers, bench_org, forcegate_instance, free_port

WORKERS = 2
DEFAULT_RATE_LIMIT = 3000  # forcegate's default per org per minute; the run spends far more than that
GUNICORN_READY = "Booting worker"


def _peer(workdir: Path, certificate: Path) -> Server:
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if gunicorn is None:
        raise SystemExit("gunicorn is not installed beside this Python (pip install -e '.[dev]')")
    port = free_port()
    env = {
        "BENCH_PEER_CERT": str(certificate),
        "BENCH_PEER_AUDIENCE": f"http://{HOST}:{port}/oauth2/token",
        "BENCH_PEER_DB": str(workdir / "peer.db"),
        "PATH": "/usr/bin:/bin",
    }
    argv = [gunicorn, "-w", str(WORKERS), "-b", f"{HOST}:{port}", "--log-level", "info", "_authlib_peer:app"]
    return Server(
        name=f"Authlib JWTBearerGrant on Flask + gunicorn ({WORKERS} workers)",
        argv=argv,
        port=port,
        log_path=workdir / "peer.log",
        env=env,
        workers=WORKERS,
        ready_marker=GUNICORN_READY,
    )


def main(rounds: int, seconds: int, connections: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="forcegate-bench-authlib-"))
    servers = Servers()
    try:
        org = bench_org(workdir)
        key_pem, cert_path = org.key_pem, org.certificate_path
        # As deployed: the default per-org limit is far below what one org spends here, so it is raised
        # to its maximum — every assertion still counted, none refused (what counting costs is in).
        instance = forcegate_instance(workdir, cert_path, rate_limit=1_000_000)
        forcegate = servers.start(instance.server(workdir, WORKERS))
        peer = servers.start(_peer(workdir, cert_path))
        bench = Bench(workdir, seconds=seconds, connections=connections, verbose=False)
        rates: dict[str, list[float]] = {"forcegate": [], "authlib": []}
        with ProcessPoolExecutor(initializer=init_minter, initargs=(key_pem, org.certificate_pem, ORG_ID, "")) as pool:
            minter = Minter(pool)
            # Pools larger than either server can take in a run (their ends are counted, never reused).
            sizes = {"forcegate": 9000 * seconds, "authlib": 2500 * seconds}
            audiences = {"forcegate": instance.audience, "authlib": f"http://{HOST}:{peer.port}/oauth2/token"}
            targets = {"forcegate": forcegate, "authlib": peer}
            for round_number in range(1, rounds + 1):
                for name in ("forcegate", "authlib"):
                    assertions = minter.mint(sizes[name], audience=audiences[name])
                    result = bench.wrk(targets[name], "/oauth2/token", token_script(bench, assertions))
                    if result.status_errors or result.socket_errors:
                        errors = f"{result.status_errors} non-2xx, {result.socket_errors} socket errors"
                        say(f"{name}: {errors} (not counted)")
                    rate = pool_rate(result) * (1 - (result.status_errors / result.requests if result.requests else 0))
                    rates[name].append(rate)
                    say(f"round {round_number}: {name} {rate:,.0f} tokens/s")
        ratios = [f / a for f, a in zip(rates["forcegate"], rates["authlib"], strict=True)]
        print(f"POST /oauth2/token, {WORKERS} workers each, unique assertions, 2xx only ({rounds} interleaved rounds)")
        print(f"  forcegate serve (embedded SQLite)          {statistics.median(rates['forcegate']):>9,.0f} tokens/s")
        print(f"  Authlib JWTBearerGrant, Flask + gunicorn   {statistics.median(rates['authlib']):>9,.0f} tokens/s")
        each = ", ".join(f"{r:.1f}x" for r in ratios)
        print(f"  forcegate / Authlib: {statistics.median(ratios):.1f}x (rounds: {each})")
        return 0
    finally:
        servers.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    arguments = parser.parse_args()
    sys.exit(main(arguments.rounds, arguments.seconds, arguments.connections))
