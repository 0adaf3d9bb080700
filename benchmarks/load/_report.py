"""What benchmarks/load/run.py prints: one table per instance, the size, variant and backend comparisons."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from _http_load import cpu_text, uneven
from _wrk import WrkResult

from load._backends import Memory, memory_text
from load._profile import Profile
from load._workload import ENDPOINTS, KINDS, KindResult, Mix

__all__ = ["Phase", "Run", "print_backends", "print_comparison", "print_phase", "print_variants"]

BASELINE_LABEL = "baseline (raw ASGI, 1 RS256 verify)"
SIZE_TARGET = 0.90  # throughput at the largest registry >= 90% of the smallest's (a drop under 10%)
#: The scale-out issue's target: scaled workers' CPU per request at most this times the embedded figure.
SCALED_CPU_TARGET = 1.5


@dataclass
class Run:
    """One measured mixed run, and the baseline runs measured just before and just after it."""

    wrk: WrkResult
    kinds: dict[str, KindResult]
    cpu: tuple[float, ...]  # % of wall time per worker process, busiest first
    client_cpu: float  # wrk's CPU time, % of wall time (of one core)
    baselines: list[WrkResult] = field(default_factory=list)
    system_seconds: float = 0.0  # of cpu_seconds, the kernel's (system) time

    @property
    def rps(self) -> float:
        return sum(k.rps for k in self.kinds.values())

    @property
    def cpu_us(self) -> float:
        """The server's CPU time per answered request (µs)."""
        return _per_request(self.cpu_seconds, self.answered)

    @property
    def system_us(self) -> float:
        """Of :attr:`cpu_us`, the kernel's (system) time."""
        return _per_request(self.system_seconds, self.answered)

    @property
    def baseline_rps(self) -> float:
        return statistics.mean(b.rps for b in self.baselines) if self.baselines else 0.0

    @property
    def ratio(self) -> float:
        return self.rps / self.baseline_rps if self.baseline_rps else float("nan")

    @property
    def cpu_seconds(self) -> float:
        """The server's CPU time during the run (all its workers)."""
        return sum(self.cpu) / 100 * self.wrk.duration_s

    @property
    def answered(self) -> int:
        return sum(k.responses for k in self.kinds.values())


@dataclass
class Phase:
    """One registry size of one backend: its measured runs (one per round) merged."""

    backend: str  # Backend.name
    label: str  # Backend.label
    workers: int
    registry: int  # orgs registered
    active: int  # distinct orgs the workload's credentials come from
    populate_s: float
    memory: list[Memory]
    readiness: str  # GET /readyz after the start: which stores the service uses
    storage: str  # the state's size after the runs
    generation: str  # the registry's generation counter before and after the runs
    runs: list[Run]
    variant: str = ""  # --variant: the source tree served
    profile: Profile | None = None  # --profile

    @property
    def kinds(self) -> dict[str, KindResult]:
        return {kind: KindResult.merged(kind, [r.kinds[kind] for r in self.runs]) for kind in KINDS}

    @property
    def rps(self) -> float:
        """Over all rounds: every answered request over the runs' total length."""
        return sum(k.rps for k in self.kinds.values())

    @property
    def ratio(self) -> float:
        """Median over the rounds of (mixed req/s / the baselines beside that run)."""
        return statistics.median(r.ratio for r in self.runs) if self.runs else float("nan")

    @property
    def errors(self) -> int:
        return sum(k.errors for r in self.runs for k in r.kinds.values()) + sum(r.wrk.socket_errors for r in self.runs)

    @property
    def cpu_us(self) -> float:
        """Server CPU time per answered request (µs): steadier than req/s on a shared machine."""
        return _per_request(sum(r.cpu_seconds for r in self.runs), sum(r.answered for r in self.runs))

    @property
    def system_us(self) -> float:
        """Of :attr:`cpu_us`, the kernel's share (system time: mostly socket calls)."""
        return _per_request(sum(r.system_seconds for r in self.runs), sum(r.answered for r in self.runs))

    @property
    def cpu_us_median(self) -> float:
        """The median over the runs of each run's CPU time per request."""
        return statistics.median(r.cpu_us for r in self.runs) if self.runs else float("nan")


def _per_request(seconds: float, answered: int) -> float:
    """``seconds`` of CPU per answered request, in µs (NaN when nothing was answered)."""
    return seconds / answered * 1e6 if answered else float("nan")


def print_phase(phase: Phase, mix: Mix) -> None:
    kinds = phase.kinds
    seconds = sum(r.wrk.duration_s for r in phase.runs)
    print()
    print(
        f"{phase.label}: registry of {phase.registry:,} orgs, credentials from {phase.active:,} of them "
        f"(spread evenly over the registry); {len(phase.runs)} run(s), {seconds:.0f} s in all"
    )
    print(
        f"  {'endpoint':<31} {'share':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'socket':>7} "
        f"{'pool out':>8}  unexpected statuses"
    )
    answered = max(1, sum(k.responses for k in kinds.values()))
    for kind in KINDS:
        result = kinds[kind]
        if not mix.weights[kind] and not result.responses:
            continue
        print(
            f"  {ENDPOINTS[kind]:<31} {result.responses / answered:>6.1%} {result.rps:>8,.0f} "
            f"{result.percentile_ms(0.5):>8.2f} {result.percentile_ms(0.99):>8.2f} {result.bad_status:>8} "
            f"{result.lost:>7} {result.exhausted:>8}  {result.status_text() or '-'}"
        )
    everything = KindResult.merged("all", list(kinds.values()))
    socket = sum(r.wrk.socket_errors for r in phase.runs)
    print(
        f"  {'all':<31} {'':>6} {phase.rps:>8,.0f} {everything.percentile_ms(0.5):>8.2f} "
        f"{everything.percentile_ms(0.99):>8.2f} {sum(k.bad_status for k in kinds.values()):>8} {socket:>7} "
        f"{sum(k.exhausted for k in kinds.values()):>8}  (socket: wrk's count)"
    )
    for number, run in enumerate(phase.runs, 1):
        flag = "*" if uneven(run.cpu) else ""
        print(
            f"  run {number}: {run.rps:,.0f} req/s; {BASELINE_LABEL}, {phase.workers} worker(s), just before / after: "
            + " / ".join(f"{b.rps:,.0f}" for b in run.baselines)
            + f" req/s; mixed at {run.ratio:.1%} of it; CPU % (one core = 100): server {cpu_text(run.cpu)}{flag}, "
            f"wrk {run.client_cpu:.0f}; server CPU {run.cpu_us:.0f} µs/request "
            f"(system {run.system_us:.0f})"
        )
    print(
        f"  vs baseline: {phase.ratio:.1%} (median over the runs); server CPU time per request: {phase.cpu_us:.0f} µs "
        f"(of which system {phase.system_us:.0f} µs); median of the runs {phase.cpu_us_median:.0f} µs"
    )
    if any(uneven(r.cpu) for r in phase.runs):
        print("  *: one worker did nearly all the work (wrk's connections all landed on it)")
    print(f"  worker memory after the runs: {memory_text(phase.memory) or 'not available (no /proc)'}")
    print(f"  stores: GET /readyz {phase.readiness}; after the runs: {phase.storage}")
    print(f"  registry generation: {phase.generation}")
    print(
        f"  registry: {phase.registry:,} orgs registered in {phase.populate_s:.1f} s "
        f"({phase.registry / max(phase.populate_s, 1e-9):,.0f} orgs/s) through forcegate.stores.open_stores"
    )
    if phase.profile is not None:
        print("\n".join(phase.profile.lines(phase.cpu_us)))


def _paired_cpu(a: Phase, b: Phase) -> float:
    """Median over the rounds of b's CPU per request over a's (round i of each ran minutes apart)."""
    pairs = [y.cpu_us / x.cpu_us for x, y in zip(a.runs, b.runs, strict=False) if x.cpu_us]
    return statistics.median(pairs) if pairs else float("nan")


def _runs_text(phase: Phase) -> str:
    return " / ".join(f"{r.cpu_us:.0f}" for r in phase.runs)


def print_variants(phases: Sequence[Phase]) -> None:
    """Per backend and registry size, each ``--variant`` against the first one."""
    groups: dict[tuple[str, int], list[Phase]] = {}
    for phase in phases:
        groups.setdefault((phase.backend, phase.registry), []).append(phase)
    for (_, registry), group in groups.items():
        if len(group) < 2:
            continue
        first = group[0]
        print()
        print(f"variants, {first.label.rsplit(' [', 1)[0]}, {registry:,} orgs (server CPU µs per request, run by run):")
        for phase in group:
            print(
                f"  {phase.variant or '-':<16} {_runs_text(phase):<24} median {phase.cpu_us_median:6.0f}; all runs "
                f"{phase.cpu_us:6.0f} (system {phase.system_us:.0f}); {phase.rps:,.0f} req/s; "
                f"vs {first.variant or '-'}, round by round: {_paired_cpu(first, phase):.3f}"
            )


def print_backends(phases: Sequence[Phase]) -> list[str]:
    """The scaled backend's CPU per request against the embedded one's (same size and variant)."""
    misses = []
    for scaled in (p for p in phases if p.backend == "scaled"):
        for embedded in (p for p in phases if p.backend == "embedded"):
            if embedded.registry != scaled.registry or embedded.variant != scaled.variant:
                continue
            paired = _paired_cpu(embedded, scaled)
            verdict = "PASS" if paired <= SCALED_CPU_TARGET else "MISS"
            print()
            print(f"scaled vs embedded, {scaled.registry:,} orgs{f' [{scaled.variant}]' if scaled.variant else ''}:")
            print(
                f"  server CPU µs per request, run by run: embedded {_runs_text(embedded)}, scaled {_runs_text(scaled)}"
            )
            print(
                f"  medians {embedded.cpu_us_median:.0f} vs {scaled.cpu_us_median:.0f} µs "
                f"({scaled.cpu_us_median / embedded.cpu_us_median:.2f}x); round by round, median: {paired:.2f}x; "
                f"target <= {SCALED_CPU_TARGET}x: {verdict}"
            )
            if verdict == "MISS":
                misses.append(f"scaled vs embedded CPU per request, {scaled.registry:,} orgs: {paired:.2f}x")
    return misses


def print_comparison(phases: Sequence[Phase]) -> list[str]:
    """Per backend (and variant), the smallest registry against the largest; returns the missed targets."""
    misses = []
    for backend, variant in dict.fromkeys((p.backend, p.variant) for p in phases):
        mine = sorted((p for p in phases if p.backend == backend and p.variant == variant), key=lambda p: p.registry)
        small, large = mine[0], mine[-1]
        print()
        print(f"{small.label}:")
        if small is large:
            print(f"  one registry size only ({small.registry:,} orgs): {small.rps:,.0f} req/s")
            continue
        raw = large.rps / small.rps if small.rps else float("nan")
        relative = large.ratio / small.ratio if small.ratio else float("nan")
        # Round i of each size ran back to back: the median of those pairs cancels the machine's drift.
        pairs = [b.rps / a.rps for a, b in zip(small.runs, large.runs, strict=False) if a.rps]
        paired = statistics.median(pairs) if pairs else float("nan")
        verdict = "PASS" if paired >= SIZE_TARGET else "MISS"
        print(
            f"  throughput at {small.registry:,} orgs vs {large.registry:,} orgs: {small.rps:,.0f} req/s vs "
            f"{large.rps:,.0f} req/s ({raw:.2f})"
        )
        print(
            f"  round by round (each pair back to back), median: {paired:.2f}; target: a drop under "
            f"{1 - SIZE_TARGET:.0%}: {verdict}"
        )
        print(f"  as a share of the baseline beside each run: {small.ratio:.1%} vs {large.ratio:.1%} ({relative:.2f})")
        print(
            f"  server CPU time per request (all workers): {small.cpu_us:.0f} vs {large.cpu_us:.0f} µs "
            f"({large.cpu_us / small.cpu_us:.2f})"
        )
        a_kinds, b_kinds = small.kinds, large.kinds
        for kind in KINDS:
            a, b = a_kinds[kind], b_kinds[kind]
            if not a.responses or not b.responses:
                continue
            print(
                f"    {ENDPOINTS[kind]:<31} {a.rps:>7,.0f} vs {b.rps:>7,.0f} req/s; "
                f"p50 {a.percentile_ms(0.5):.2f} vs {b.percentile_ms(0.5):.2f} ms; "
                f"p99 {a.percentile_ms(0.99):.2f} vs {b.percentile_ms(0.99):.2f} ms"
            )
        if small.active != large.active:
            print(
                f"  note: the workload's distinct orgs differ too ({small.active:,} vs {large.active:,}): a "
                "difference may come from that rather than from the registry's size; "
                f"--orgs {large.active},{large.registry} compares registry sizes at equal distinct orgs"
            )
        peak_small = max((m.peak_kib for m in small.memory), default=0)
        peak_large = max((m.peak_kib for m in large.memory), default=0)
        print(f"  worker peak RSS (VmHWM, largest worker): {peak_small / 1024:,.1f} vs {peak_large / 1024:,.1f} MiB")
        if verdict == "MISS":
            misses.append(f"{small.label}: {small.registry:,} -> {large.registry:,} orgs, {paired:.2f}")
    return misses
