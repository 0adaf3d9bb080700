"""Measuring the instances: one per backend, registry size and variant, all serving at once, in rounds.

Each (backend, registry size, ``--variant``) gets its own instance (data folder, or PostgreSQL schema +
Redis prefix), filled once and served by its own ``forcegate serve``. The runs are interleaved
(``baseline, mixed@A, baseline, mixed@B, baseline, …``, every other round in reverse order, for
``--rounds`` rounds), so the instances are compared on the same machine minutes, and each mixed run
against the baselines (with as many workers) measured just before and after it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from _http_load import Minter, cpu_text, fetch_access_tokens, init_minter, process_cpu, say, uneven
from _http_servers import HOST, Server, Servers, http_exchange
from _wrk import WrkResult, run_wrk
from cryptography import x509

from forcegate.devtools import build_envelope, sign_envelope
from forcegate.stores import open_stores
from load._backends import (
    Backend,
    BackendUnavailable,
    populate,
    sample_orgs,
    storage_text,
    user_id,
    worker_memory,
    worker_pids,
)
from load._profile import Profile, Sampler
from load._report import Phase, Run
from load._workload import KindResult, Mix, PoolFile, mixed_script, parse_kinds

__all__ = ["Context", "Instance", "fill_registry", "init_pool_process", "measure", "prepare_instance"]

POOL_MARGIN = 2.0  # single-use pools hold the expected need times this (the rate varies by run)
WARMUP_GUESS_RPS = 4000  # per worker, before anything was measured: rather too many than too few


@dataclass
class Context:
    args: argparse.Namespace
    mix: Mix
    workdir: Path
    servers: Servers
    minter: Minter
    certificate: x509.Certificate
    files: int = 0
    rate_guess: float = 0.0  # total req/s last measured
    client_cpu: float = 0.0  # wrk's CPU % (of one core) in the last run

    def write(self, name: str, lines: Sequence[str]) -> Path:
        self.files += 1
        path = self.workdir / f"{self.files:03d}-{name}"
        path.write_text("\n".join(lines) + "\n", encoding="ascii")
        return path

    def wrk(self, port: int, script: Path, seconds: int) -> WrkResult:
        """One wrk thread per connection (see _workload.py), for the baseline too: the same client.

        Sets :attr:`client_cpu`: wrk's own CPU time over the run's wall time, in % of one core.
        """
        connections = self.args.connections
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        result = run_wrk(
            f"http://{HOST}:{port}/", script, seconds=seconds, connections=connections, threads=connections
        )
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.client_cpu = used / wall * 100
        return result


@dataclass
class Instance:
    """One registry size of one backend: its service, its workload's orgs and reusable pools."""

    backend: Backend
    size: int
    populate_s: float
    server: Server
    readiness: str
    active: list[str]
    pools: dict[str, PoolFile]  # the cycling ones: access tokens, Canvas bodies
    rate: float = 0.0  # req/s the single-use pools are sized for
    generation: int | None = None  # the registry's generation counter once warmed up
    runs: list[Run] = field(default_factory=list)
    profile: Profile | None = None  # --profile: the workers' samples over the measured runs


def process_system_cpu(pgid: int) -> float:
    """System CPU seconds of the processes in the group ``pgid`` (Linux /proc; 0 elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                total += int(fields[12])
    return total / ticks


def init_pool_process(key_pem: bytes, certificate_pem: bytes) -> None:
    """The minting processes ignore Ctrl-C (the main process stops them): no tracebacks from each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The pool's default issuer and audience are never used: every mint names its own.
    init_minter(key_pem, certificate_pem, "", "")


def canvas_bodies(backend: Backend, active: Sequence[str]) -> list[str]:
    """One signed request per org, as the form body Salesforce posts into the iframe."""
    bodies = []
    for n, org in enumerate(active):
        envelope = build_envelope(
            org_id=org, user_id=user_id(n), user_name=f"load.user{n}@example.com", parameters={"region": "EMEA"}
        )
        bodies.append("signed_request=" + quote(sign_envelope(envelope, backend.consumer_secret), safe=""))
    return bodies


def fill_registry(ctx: Context, backend: Backend, size: int) -> float:
    """``size`` orgs through the store API, then ``os.sync()``: a registry is filled long before it
    serves, and the import's dirty pages would otherwise be written out during a measured run."""
    seconds = populate(backend, ctx.certificate, size, concurrency=ctx.args.populate_concurrency)
    synced = time.perf_counter()
    os.sync()
    say(
        f"{backend.name} [{backend.tag}]: registry of {size:,} orgs filled in {seconds:.1f} s "
        f"({size / max(seconds, 1e-9):,.0f} orgs/s; os.sync() {time.perf_counter() - synced:.1f} s)"
    )
    return seconds


def prepare_instance(ctx: Context, backend: Backend, size: int, populate_s: float) -> Instance:
    """Start the service, fetch access tokens, sign Canvas requests, warm up and calibrate."""
    try:
        server = ctx.servers.start(backend.server(ctx.workdir))
    except RuntimeError as exc:
        raise BackendUnavailable(f"forcegate serve did not start: {exc}") from None
    status, body = http_exchange(backend.port, "GET", "/readyz")
    readiness = f"{status} {body.decode('utf-8', 'replace').strip()}"
    say(f"[{backend.tag}] GET /readyz: {readiness}")
    active = sample_orgs(size, ctx.args.active_orgs)
    pools = {}
    if ctx.mix.weights["api"]:
        assertions = ctx.minter.mint(len(active), issuers=active, audience=backend.token_endpoint)
        tokens = fetch_access_tokens(backend.port, assertions)
        pools["api"] = PoolFile(ctx.write("api.txt", tokens), len(tokens), "cycle")
    if ctx.mix.weights["canvas"]:
        bodies = canvas_bodies(backend, active)
        pools["canvas"] = PoolFile(ctx.write("canvas.txt", bodies), len(bodies), "cycle")
    instance = Instance(backend, size, populate_s, server, readiness, active, pools)
    guess = ctx.rate_guess or WARMUP_GUESS_RPS * backend.workers
    warm = mixed_run(ctx, instance, guess, ctx.args.warmup)
    instance.rate = slot_rate(warm.kinds, warm.wrk.duration_s)
    ctx.rate_guess = instance.rate
    instance.generation = registry_generation(backend)
    say(f"[{backend.tag}] warm-up ({ctx.args.warmup} s): {warm.rps:,.0f} req/s")
    return instance


def registry_generation(backend: Backend) -> int | None:
    """The registry's generation counter: while it stays put, no worker drops its per-org caches."""

    async def read() -> int:
        stores = await open_stores(backend.settings())
        try:
            return await stores.trust.generation()
        finally:
            await stores.close()

    try:
        return asyncio.run(read())
    except Exception:  # diagnosis only
        return None


def generation_text(before: int | None, after: int | None) -> str:
    if before is None or after is None:
        return "not readable"
    if before == after:
        return f"{after}, unchanged during the runs: no worker dropped its per-org caches"
    return f"{before} -> {after}: the registry changed during the runs, every worker reloaded its caches"


def single_use_pools(ctx: Context, instance: Instance, rate: float, seconds: int) -> dict[str, PoolFile]:
    """Fresh assertions for the token endpoint and for direct use, enough for ``seconds`` at ``rate``."""
    backend, pools = instance.backend, {}
    for kind, audience in (("token", backend.token_endpoint), ("jwt", backend.public_url)):
        if not ctx.mix.weights[kind]:
            continue
        count = math.ceil(rate * ctx.mix.share(kind) * seconds * POOL_MARGIN) + 4 * ctx.args.connections
        if count > ctx.args.max_assertions:
            say(f"{kind} pool capped at {ctx.args.max_assertions:,} (--max-assertions); it may run out")
            count = ctx.args.max_assertions
        minted = ctx.minter.mint(count, issuers=instance.active, audience=audience)
        pools[kind] = PoolFile(ctx.write(f"{kind}.txt", minted), count, "once")
    return pools


def slot_rate(kinds: dict[str, KindResult], duration_s: float) -> float:
    """Requests per second counting the turns of an exhausted pool: an upper bound, safe for sizing."""
    return sum(k.responses + k.exhausted + k.lost for k in kinds.values()) / duration_s if duration_s else 0.0


def mixed_run(ctx: Context, instance: Instance, rate: float, seconds: int, *, profile: bool = False) -> Run:
    """One mixed run with fresh single-use pools, and the workers' CPU share (% of wall time).

    ``profile``: py-spy samples every worker meanwhile (see _profile.py), into ``instance.profile``.
    """
    pools = {**instance.pools, **single_use_pools(ctx, instance, rate, seconds)}
    script = ctx.write("mixed.lua", [mixed_script(ctx.mix, pools, threads=ctx.args.connections)])
    process = instance.server.process
    assert process is not None
    sampler = Sampler(worker_pids(instance.server), seconds - 1, ctx.workdir / "profile") if profile else None
    before, started = process_cpu(process.pid), time.monotonic()
    system_before = process_system_cpu(process.pid)
    result = ctx.wrk(instance.backend.port, script, seconds)
    client_cpu = ctx.client_cpu
    after, wall = process_cpu(process.pid), time.monotonic() - started
    system = process_system_cpu(process.pid) - system_before
    if sampler is not None:
        instance.profile = instance.profile or Profile()
        for raw in sampler.join():
            instance.profile.add(raw)
            raw.unlink(missing_ok=True)
    shares = sorted(((after[p] - before.get(p, 0.0)) / wall * 100 for p in after), reverse=True)
    for pool in pools.values():
        if pool.mode == "once":
            pool.path.unlink(missing_ok=True)  # used up: keep the temporary folder small
    kinds = parse_kinds(result.report, result.duration_s)
    return Run(result, kinds, tuple(shares[: instance.backend.workers]), client_cpu, system_seconds=system)


def measured_run(ctx: Context, instance: Instance) -> Run:
    """A measured mixed run; once more (the first discarded) if a single-use pool ran out or one
    worker took all of wrk's connections."""
    tag = instance.backend.tag
    for attempt in range(2):
        run = mixed_run(ctx, instance, instance.rate, ctx.args.seconds, profile=ctx.args.profile)
        exhausted = sum(k.exhausted for k in run.kinds.values())
        say(
            f"[{tag}] mixed: {run.rps:,.0f} req/s; pool exhausted {exhausted}; "
            f"server CPU % {cpu_text(run.cpu)}, wrk CPU % {run.client_cpu:.0f}"
        )
        if attempt == 0 and (exhausted or uneven(run.cpu)):
            instance.profile = None  # the discarded run's samples go too (a later run may add its own)
            instance.rate = max(instance.rate, slot_rate(run.kinds, run.wrk.duration_s)) * (1.5 if exhausted else 1)
            reason = "a single-use pool ran out" if exhausted else "one worker took all of wrk's connections"
            say(f"[{tag}] {reason}: again (this run is discarded)")
            continue
        break
    instance.rate = max(instance.rate, slot_rate(run.kinds, run.wrk.duration_s))  # the next run's pool size
    return run


def measure(ctx: Context, instances: Sequence[Instance], baselines: dict[int, tuple[Server, Path]]) -> list[Phase]:
    """``--rounds`` rounds of ``baseline, mixed`` per instance, closing baselines; one Phase per instance.

    ``baselines``: the baseline server (and its script) for each worker count; an instance's mixed
    run is compared with the baselines of its worker count run just before and just after it.
    """
    args = ctx.args
    previous: dict[int, Run] = {}  # per worker count: the last mixed run, waiting for its "after" baseline

    def baseline(workers: int) -> WrkResult:
        server, script = baselines[workers]
        base = ctx.wrk(server.port, script, args.baseline_seconds)
        if workers in previous:
            previous.pop(workers).baselines.append(base)
        return base

    for round_number in range(1, args.rounds + 1):
        # ABBA: every other round in reverse, so no instance always runs first after the baseline.
        for instance in instances if round_number % 2 else list(reversed(instances)):
            workers = instance.backend.workers
            base = baseline(workers)
            say(f"round {round_number}: baseline ({workers} worker(s)) {base.rps:,.0f} req/s")
            run = measured_run(ctx, instance)
            run.baselines.append(base)
            instance.runs.append(run)
            previous[workers] = run
    for workers in sorted(previous):
        say(f"closing baseline ({workers} worker(s)) {baseline(workers).rps:,.0f} req/s")
    phases = []
    for instance in instances:
        backend = instance.backend
        phases.append(
            Phase(
                backend=backend.name,
                label=backend.label,
                workers=backend.workers,
                registry=instance.size,
                active=len(instance.active),
                populate_s=instance.populate_s,
                memory=worker_memory(instance.server),
                readiness=instance.readiness,
                storage=storage_text(backend),
                generation=generation_text(instance.generation, registry_generation(backend)),
                runs=instance.runs,
                variant=backend.variant,
                profile=instance.profile,
            )
        )
        if phases[-1].errors:
            print_refusals(backend)
    return phases


def print_refusals(backend: Backend) -> None:
    """The service audits every refusal: show the newest few, with the check that failed."""

    async def query() -> list[str]:
        stores = await open_stores(backend.settings())
        try:
            events = await stores.audit.query(limit=1000)
        finally:
            await stores.close()
        return [f"{e.endpoint} {e.credential} {e.code}: {e.detail}" for e in events if e.result == "denied"]

    with contextlib.suppress(Exception):  # diagnosis only
        denied = asyncio.run(query())
        say(f"[{backend.tag}] audit log: {len(denied)} of the newest 1,000 events are refusals")
        for line in denied[:8]:
            say("  " + line)
