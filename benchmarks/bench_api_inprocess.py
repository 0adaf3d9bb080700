"""``GET /api/v1/me`` in process: the service's layers over the verify they wrap, without HTTP or wrk.

Both contenders are ASGI callables driven by the same loop, over the same access token, in
interleaved rounds (the machine is shared and noisy; the ratio is the median of per-round ratios):

* baseline: a raw ASGI function that reads the ``Authorization`` header, verifies the token with the
  service's own ``AccessTokenVerifier`` (its verified-token cache warm, as for an Apex client that
  reuses its token) and answers the identity as JSON;
* forcegate: the real ``ForcegateApp`` on a temporary embedded store, with one registered org: the
  dispatch, the request layer, the authentication service (registry generation check, revocation
  check, org enabled), the audit queue and the error-rendering guard — once with its Prometheus
  metrics switched off and once as deployed by default (metrics on: the request counter and
  histogram, the decision counter, the store-call histograms), which prices the metrics;
* forcegate uncached: the same app (metrics on) over ``--tokens`` distinct access tokens, issued and
  recorded as the token endpoint records them, round-robin: more than the verified-token cache
  holds, so every call checks its token against its record (decision 0025) — a worker sees each
  user's token once, the real case.

What this isolates is the per-request cost of forcegate's own layers, which HTTP benchmarks
(bench_http.py) bury under the server's and wrk's noise.

    .venv/bin/python benchmarks/bench_api_inprocess.py [--seconds 5] [--tokens 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

from forcegate.core.identity import Identity
from forcegate.server.app import create_app
from forcegate.service.bootstrap import bootstrap
from forcegate.settings import Settings
from forcegate.stores.models import Org

ORG = "00D5g000004ABCDEA4"
Message = MutableMapping[str, Any]
App = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


async def _receive() -> Message:
    return {"type": "http.request", "body": b""}


async def _send(_message: Message) -> None:
    return None


async def _time(app: App, scope: dict[str, Any], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), _receive, _send)
    return (time.perf_counter() - start) / count * 1e6


async def main(seconds: float, tokens: int) -> None:
    with tempfile.TemporaryDirectory(prefix="forcegate-bench-api-") as folder:
        settings = Settings(data_dir=Path(folder), public_url="http://127.0.0.1:8000", token_rate_limit=0)
        await bootstrap(settings)
        app = create_app(settings)
        bare = create_app(dataclasses.replace(settings, metrics=False))
        await app.startup()
        await bare.startup()
        try:
            service = app.service
            assert service is not None
            assert service.issuer is not None
            assert service.access is not None
            await service.stores.trust.add_org(Org(org_id=ORG))
            identity = Identity(
                source="jwt-bearer", org_id=ORG, user_id=None, username="ada@example.com", instance_url=None,
                record_id=None, parameters={}, scopes=frozenset({"api"}), issuer=ORG, expires_at=None,
            )  # fmt: skip
            token, _ = service.issuer.issue(identity, client_id=ORG)
            verifier = service.access
            headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Bearer " + token.encode())]
            scope = {
                "type": "http", "method": "GET", "path": "/api/v1/me", "root_path": "", "query_string": b"",
                "headers": headers, "client": ("127.0.0.1", 50000),
            }  # fmt: skip

            async def baseline(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
                authorization = next(v for k, v in scope["headers"] if k == b"authorization")
                verified = verifier.verify(authorization.decode("latin-1").partition(" ")[2])
                body = orjson.dumps(verified.identity.to_dict())
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})

            many: list[list[tuple[bytes, bytes]]] = []
            for _ in range(tokens):
                other, record = service.issuer.issue(identity, client_id=ORG)
                await service.stores.tokens.record_issued(record)
                many.append([(b"host", b"127.0.0.1:8000"), (b"authorization", b"Bearer " + other.encode())])
            rotation = itertools.cycle(many)

            async def uncached(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
                scope["headers"] = next(rotation)
                await app(scope, receive, send)

            contenders: list[tuple[str, App]] = [
                ("baseline (header, cached verify, JSON)", baseline),
                ("forcegate, metrics off", bare),
                ("forcegate (metrics on: the default)", app),
                (f"forcegate uncached ({tokens:,} tokens)", uncached),
            ]
            for _, contender in contenders:  # warm-up
                await _time(contender, scope, 2000)
            costs: dict[str, list[float]] = {name: [] for name, _ in contenders}
            deadline = time.perf_counter() + seconds
            while len(base := costs[contenders[0][0]]) < 5 or time.perf_counter() < deadline:
                for name, contender in contenders:
                    costs[name].append(await _time(contender, scope, 5000))
        finally:
            await app.shutdown()
            await bare.shutdown()
    base = costs[contenders[0][0]]
    print("GET /api/v1/me in process, one cached access token or many (median of interleaved rounds)")
    print(f"  {'contender':<42} {'µs/req':>8} {'req/s':>10} {'vs baseline':>12}")
    for name, _ in contenders:
        own = costs[name]
        ratio = statistics.median(b / o for b, o in zip(base, own, strict=True))
        median = statistics.median(own)
        print(f"  {name:<42} {median:>8.2f} {1e6 / median:>10,.0f} {ratio:>11.0%}")
    off, on = costs[contenders[1][0]], costs[contenders[2][0]]
    overhead = statistics.median(o - b for o, b in zip(off, base, strict=True))
    metrics = statistics.median(o - f for o, f in zip(on, off, strict=True))
    print(f"  forcegate's layers add {overhead:.2f} µs per request, its metrics {metrics:.2f} µs ({len(base)} rounds)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tokens", type=int, default=20_000, help="distinct tokens of the uncached contender")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.tokens))
