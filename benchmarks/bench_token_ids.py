"""What the shape of the access token's ``jti`` costs the grant's SQLite write (decision 0028).

A grant writes its single-use claim, the token record (keyed by ``jti``) and its audit row in one
group-committed transaction (``SqliteGrantRecorder.record_grant``). Each contender records grants in
batches of ``--batch`` concurrent grants (one group commit each, as under load) into a store already
holding ``--prefill`` token records (a busy service keeps ~10 minutes of tokens: at 2,000 grants/s,
over a million), in interleaved rounds, each in a fresh database file:

* random: ``secrets.token_urlsafe(16)``, the id before decision 0028: each record lands on a random
  page of the ``jti`` index;
* time-ordered: :func:`forcegate.core.access_token.new_jti` (ms timestamp, then 128 random bits): the
  index appends.

    .venv/bin/python benchmarks/bench_token_ids.py [--rounds 3] [--prefill 100000] [--grants 12800]

Prints µs per grant (wall time over the timed batches: SQLite runs inline, on the loop) per round,
the medians, and the time-ordered ids' cost as a share of the random ids' (median of per-round ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable

from forcegate.core.access_token import new_jti
from forcegate.stores.encryption import SecretBox
from forcegate.stores.models import AuditEvent, IssuedToken
from forcegate.stores.protocols import GrantRecorder
from forcegate.stores.sqlite import open_sqlite_stores

ORG = "00Dx00000001hxyEAA"
USER = "005x0000001SyyEAAS"


def random_jti() -> str:
    return secrets.token_urlsafe(16)


async def record(grants: GrantRecorder, jti: str, now: float) -> bool:
    token = IssuedToken(
        jti=jti, org_id=ORG, user_id=USER, client_id="3MVG9", scope="api", issued_at=now, expires_at=now + 600,
        mac="m" * 43,
    )  # fmt: skip
    event = AuditEvent(
        at=now, endpoint="/oauth2/token", credential="jwt-bearer", result="allowed", code="ok", org_id=ORG,
        user_id=USER, subject="ada@example.com", issuer=ORG, client="127.0.0.1",
    )  # fmt: skip
    return await grants.record_grant(
        replay_key="sha256:" + secrets.token_hex(32), replay_until=now + 600, token=token, event=event, now=now
    )


async def measure(make_jti: Callable[[], str], *, prefill: int, grants: int, batch: int) -> float:
    """µs per grant, recorded in batches of ``batch`` after ``prefill`` records."""
    with tempfile.TemporaryDirectory() as directory:
        stores = await open_sqlite_stores(f"{directory}/bench.db", box=SecretBox(secrets.token_bytes(32)))
        try:
            now = time.time()
            for _ in range(prefill // 256):
                await asyncio.gather(*(record(stores.grants, make_jti(), now) for _ in range(256)))
            started = time.perf_counter()
            for _ in range(grants // batch):
                won = await asyncio.gather(*(record(stores.grants, make_jti(), now) for _ in range(batch)))
                assert all(won), "a grant was refused: the benchmark's keys collided"
            return (time.perf_counter() - started) / (grants // batch * batch) * 1e6
        finally:
            await stores.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--prefill", type=int, default=100_000, help="token records before timing (default 100,000)")
    parser.add_argument("--grants", type=int, default=12_800, help="timed grants per round (default 12,800)")
    parser.add_argument("--batch", type=int, default=32, help="concurrent grants per group commit (default 32)")
    args = parser.parse_args()
    contenders = {"random": random_jti, "time-ordered": new_jti}
    figures: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(1, args.rounds + 1):
        for name, make in contenders.items():
            figures[name].append(await measure(make, prefill=args.prefill, grants=args.grants, batch=args.batch))
            print(f"round {round_}: {name:>12} {figures[name][-1]:7.1f} µs/grant", flush=True)
    print(f"\n{args.prefill:,} records before, batches of {args.batch}, {args.rounds} interleaved rounds:")
    for name, values in figures.items():
        print(f"  {name:>12}  median {statistics.median(values):7.1f} µs/grant")
    ratios = [o / r for o, r in zip(figures["time-ordered"], figures["random"], strict=True)]
    print(f"  time-ordered / random, median of per-round ratios: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
