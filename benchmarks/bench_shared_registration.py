"""Registering one more org for a certificate shared on purpose: does it stay constant-time?

``--orgs`` orgs register ONE certificate (``shared``) on a fresh embedded store, one registry write
each, as ``benchmarks/load/run.py`` fills its registries. Printed: the time per org over the first
and the last ``--window`` orgs, and their ratio — about 1 when a registration costs the same whatever
the number of holders, growing with ``--orgs`` when each registration visits every holder (as it did
before migration 8's partial indexes).

    .venv/bin/python benchmarks/bench_shared_registration.py [--orgs 20000] [--window 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.core.ids import to18
from forcegate.keys.generate import self_signed_certificate
from forcegate.settings import Settings
from forcegate.stores import Org, open_stores


async def measure(orgs: int, window: int, folder: Path) -> tuple[float, float]:
    stores = await open_stores(Settings(data_dir=folder))
    certificate = self_signed_certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048), cn="shared")
    first = last = 0.0
    try:
        for n in range(orgs):
            org_id = to18(f"00D{n:012d}")
            began = time.perf_counter()
            await stores.trust.add_org(Org(org_id=org_id))
            await stores.trust.add_certificate(org_id, certificate, label="shared", shared=True)
            elapsed = time.perf_counter() - began
            if n < window:
                first += elapsed
            elif n >= orgs - window:
                last += elapsed
    finally:
        await stores.close()
    return first / window, last / window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=1_000)
    args = parser.parse_args()
    if args.orgs < 2 * args.window:
        parser.error("--orgs must be at least twice --window")
    with tempfile.TemporaryDirectory(prefix="forcegate-bench-") as folder:
        first, last = asyncio.run(measure(args.orgs, args.window, Path(folder)))
    print(f"registering one more org for a certificate {args.orgs:,} orgs share (embedded SQLite)")
    print(f"  first {args.window:,} orgs   {first * 1e6:8.1f} µs per org")
    print(f"  last {args.window:,} orgs    {last * 1e6:8.1f} µs per org")
    print(f"  last / first          {last / first:8.2f}   (about 1: constant per registration)")


if __name__ == "__main__":
    main()
