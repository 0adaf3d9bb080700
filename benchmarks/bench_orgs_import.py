"""Throughput of ``forcegate orgs import FILE.csv`` on the embedded default (issue 14: >= 10,000 orgs/s).

Writes a CSV of ``--orgs`` random org ids (15-character, as a License Management App export has
them) into a fresh temporary store, then measures, each ``--rounds`` times on a new store:

* ``parse``: reading the CSV into canonical 18-character ids (:func:`forcegate.cli._org_csv.read_org_ids`);
* ``import``: the registry's one-transaction write (``RegistryService.enrollments.import_orgs``);
* ``cli``: the whole command in a subprocess (``python -m forcegate.cli orgs import``), start-up included.

    .venv/bin/python benchmarks/bench_orgs_import.py [--orgs 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forcegate.cli._org_csv import read_org_ids
from forcegate.core.ids import to18
from forcegate.registry import Actor, RegistryService
from forcegate.settings import Settings
from forcegate.stores import open_stores
from forcegate.stores.schema import upgrade_schema

_ALPHABET = string.ascii_letters + string.digits


def csv_text(count: int) -> str:
    rows = ["License Id,Organization ID,Status"]
    for n in range(count):
        org = "00D" + "".join(secrets.choice(_ALPHABET) for _ in range(12))
        rows.append(f"a0L{n:012d},{org},Active")
    return "\n".join(rows) + "\n"


async def import_once(text: str, folder: Path) -> tuple[float, float, int]:
    settings = Settings(data_dir=folder)
    await upgrade_schema(settings)
    started = time.perf_counter()
    org_ids, _ = read_org_ids(text)
    parsed = time.perf_counter()
    stores = await open_stores(settings)
    try:
        registry = RegistryService(stores, settings=settings)
        opened = time.perf_counter()
        added = await registry.enrollments.import_orgs(org_ids, source="bench.csv", actor=Actor())
        done = time.perf_counter()
    finally:
        await stores.close()
    return parsed - started, done - opened, added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    text = csv_text(options.orgs)
    distinct = len({to18(line.split(",")[1]) for line in text.splitlines()[1:]})
    print(f"{options.orgs} rows ({distinct} distinct org ids), SQLite embedded default, {options.rounds} rounds")
    for round_ in range(1, options.rounds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            parse, write, added = asyncio.run(import_once(text, Path(tmp) / "data"))
        assert added == distinct, (added, distinct)
        total = parse + write
        print(
            f"round {round_}: parse {parse * 1000:.0f} ms, import {write * 1000:.0f} ms, "
            f"{distinct / total:,.0f} orgs/s (parse + import), {distinct / write:,.0f} orgs/s (import alone)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        asyncio.run(upgrade_schema(Settings(data_dir=folder)))
        csv = Path(tmp) / "licenses.csv"
        csv.write_text(text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")} | {
            "FORCEGATE_DATA_DIR": str(folder)
        }
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "forcegate.cli", "orgs", "import", str(csv)],
            check=True,
            env=env,
            capture_output=True,
        )
        elapsed = time.perf_counter() - started
    print(f"cli: {elapsed * 1000:.0f} ms for the whole command, {distinct / elapsed:,.0f} orgs/s including start-up")


if __name__ == "__main__":
    main()
