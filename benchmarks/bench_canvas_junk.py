"""What one junk ``signed_request`` at ``/canvas`` costs, as the registry grows: the work is bounded.

An unsigned request is checked against at most ``canvas_max_secrets`` consumer secrets (each an
HMAC over the whole request): the app its envelope names, or the apps without a Canvas name. This
times :func:`forcegate.service.canvas.canvas_login` in process on a temporary embedded store with
``--apps`` apps (each named, as ``apps import-metadata`` names them), for a junk request of the
largest accepted size naming one of them, and for one naming none — against a baseline measured in
the same run: a single HMAC-SHA256 over the same bytes (the least any verifier must do). For
comparison it also times a ``CanvasVerifier`` holding every app's secret, which is what each junk
request cost before requests were routed.

    .venv/bin/python benchmarks/bench_canvas_junk.py [--apps 510] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from forcegate.core.canvas import DEFAULT_MAX_BYTES, CanvasVerifier
from forcegate.errors import ForcegateError
from forcegate.server.app import create_app
from forcegate.service.bootstrap import bootstrap
from forcegate.service.canvas import canvas_login
from forcegate.settings import Settings


def _junk(developer_name: str) -> str:
    """A request of nearly the largest accepted size, naming ``developer_name``, with a wrong signature."""
    envelope = {"context": {"application": {"developerName": developer_name, "namespace": "acme"}}, "pad": ""}
    room = DEFAULT_MAX_BYTES * 3 // 4 - len(orjson.dumps(envelope)) - 64
    envelope["pad"] = "x" * room
    payload = base64.b64encode(orjson.dumps(envelope)).decode("ascii")
    return base64.b64encode(b"\0" * 32).decode("ascii") + "." + payload


async def main(apps: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="forcegate-bench-junk-") as folder:
        settings = Settings(data_dir=Path(folder), public_url="http://127.0.0.1:8000")
        await bootstrap(settings)
        app = create_app(settings)
        await app.startup()
        try:
            service = app.service
            assert service is not None
            for n in range(apps):
                await service.stores.trust.add_app(
                    consumer_key=f"ck{n}",
                    name=f"app {n}",
                    secret=f"consumer-secret-{n:08d}",
                    canvas_name=f"acme__App{n}",
                )
            cases = {"names an app": _junk("App7"), "names none": _junk("Nobody")}
            every_secret = CanvasVerifier([f"consumer-secret-{n:08d}" for n in range(apps)])
            payload = cases["names an app"].partition(".")[2].encode("ascii")
            rounds: dict[str, list[float]] = {name: [] for name in cases}
            baseline: list[float] = []
            unrouted: list[float] = []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                start = time.perf_counter()
                for _ in range(20):
                    hmac.compare_digest(hmac.new(b"consumer-secret-0", payload, hashlib.sha256).digest(), b"\0" * 32)
                baseline.append((time.perf_counter() - start) / 20)
                for name, junk in cases.items():
                    start = time.perf_counter()
                    for _ in range(20):
                        with contextlib.suppress(ForcegateError):
                            await canvas_login(service, junk, consumer_key=None)
                    rounds[name].append((time.perf_counter() - start) / 20)
                start = time.perf_counter()
                with contextlib.suppress(ForcegateError):
                    every_secret.verify(cases["names an app"])
                unrouted.append(time.perf_counter() - start)
            base = statistics.median(baseline)
            print(f"{apps} apps, junk request of {len(cases['names an app'])} bytes, {len(baseline)} rounds")
            print(f"  baseline (one HMAC over it): {base * 1e3:.3f} ms")
            for name, times in rounds.items():
                median = statistics.median(times)
                print(f"  canvas_login, {name}: {median * 1e3:.3f} ms = {median / base:.1f}x the baseline")
            median = statistics.median(unrouted)
            print(f"  every secret tried (before routing): {median * 1e3:.3f} ms = {median / base:.1f}x the baseline")
        finally:
            await app.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=510)
    parser.add_argument("--seconds", type=float, default=3.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.apps, arguments.seconds))
