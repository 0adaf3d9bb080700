"""Interleaved in-process micro-benchmarks with ratios to a baseline measured in the same run.

These machines are shared and noisy, so absolute rates drift between runs. Each round times every
contender back to back over the same number of operations; ratios are taken per round and the
median round is reported, which cancels most of the drift that would skew two separate runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Contender", "Result", "print_results", "run"]


@dataclass(frozen=True)
class Contender:
    name: str
    operation: Callable[[], object]


@dataclass(frozen=True)
class Result:
    name: str
    ops_per_second: float  # median over rounds
    p50_us: float
    p99_us: float
    ratio_to_baseline: float  # median of per-round ratios (rate / baseline rate)


def _time_batch(operation: Callable[[], object], count: int, samples: list[float]) -> float:
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(count):
        t0 = clock()
        operation()
        samples.append((clock() - t0) / 1000.0)
    return (clock() - start) / 1e9


def run(contenders: Sequence[Contender], *, seconds: float = 3.0, batch: int = 500) -> list[Result]:
    """Time ``contenders`` (the first is the baseline) in interleaved rounds for about ``seconds``."""
    for contender in contenders:  # warm-up: caches, lazy imports, branch predictors
        for _ in range(100):
            contender.operation()
    rates: dict[str, list[float]] = {c.name: [] for c in contenders}
    latencies: dict[str, list[float]] = {c.name: [] for c in contenders}
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < 3 or time.perf_counter() < deadline:
        for contender in contenders:
            elapsed = _time_batch(contender.operation, batch, latencies[contender.name])
            rates[contender.name].append(batch / elapsed)
        rounds += 1
    baseline = rates[contenders[0].name]
    results = []
    for contender in contenders:
        own = rates[contender.name]
        samples = sorted(latencies[contender.name])
        results.append(
            Result(
                name=contender.name,
                ops_per_second=statistics.median(own),
                p50_us=samples[len(samples) // 2],
                p99_us=samples[min(len(samples) - 1, int(len(samples) * 0.99))],
                ratio_to_baseline=statistics.median(o / b for o, b in zip(own, baseline, strict=True)),
            )
        )
    return results


def print_results(title: str, results: Sequence[Result]) -> None:
    print(title)
    print(f"  {'contender':<44} {'ops/s':>10} {'p50 µs':>9} {'p99 µs':>9} {'vs baseline':>12}")
    for r in results:
        print(
            f"  {r.name:<44} {r.ops_per_second:>10,.0f} {r.p50_us:>9.1f} {r.p99_us:>9.1f} {r.ratio_to_baseline:>11.0%}"
        )
