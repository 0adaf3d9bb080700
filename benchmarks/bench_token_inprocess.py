"""``POST /oauth2/token`` in process: what the per-org rate limit costs the token endpoint, without HTTP.

Every request posts a different assertion (single use), 32 requests in flight (as ``wrk -c32``), each
contender in interleaved rounds over the same embedded SQLite store (the ratio is the median of
per-round ratios; the machine is shared and noisy):

* baseline: a raw ASGI function that reads the form, verifies the assertion's RS256 signature with
  ``cryptography`` and answers a small JSON — the floor of any token endpoint;
* forcegate, ``token_rate_limit = 0``: no rate counting;
* forcegate, the default limit (3,000 per org per minute), the hit counted inside the grant's
  transaction (one write per grant);
* forcegate, the default limit counted as it was before: a separate (group-committed) counter write
  before the grant's, which is what folding it into the grant saves.

    .venv/bin/python benchmarks/bench_token_inprocess.py [--rounds 5] [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import orjson
from _http_load import Minter, init_minter, say
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from forcegate.keys.generate import self_signed_certificate
from forcegate.server.app import ForcegateApp, create_app
from forcegate.service.bootstrap import bootstrap
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores
from forcegate.stores.models import Org
from forcegate.stores.rate_hit import RateHit

ORG = "00D5g000004ABCDEA4"
PUBLIC_URL = "http://127.0.0.1:8000"
IN_FLIGHT = 32
Message = MutableMapping[str, Any]
App = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


class _TwoWrites:
    """The grant recorder as it was used before: the rate hit as a write of its own, then the grant."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores

    async def record_grant(self, *, rate: RateHit | None = None, **grant: Any) -> bool:
        if rate is not None:
            await self._stores.rates.hit(rate.key, rate.window_start, rate.window_seconds, now=grant["now"])
        return await self._stores.grants.record_grant(**grant)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stores.grants, name)


async def _post(app: App, body: bytes, statuses: list[int]) -> None:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http", "method": "POST", "path": "/oauth2/token", "root_path": "", "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
    }  # fmt: skip
    await app(scope, receive, send)


async def _round(app: App, bodies: list[bytes]) -> float:
    """Microseconds per request with IN_FLIGHT requests at a time; every answer must be 200."""
    statuses: list[int] = []
    queue = iter(bodies)

    async def client() -> None:
        for body in queue:
            await _post(app, body, statuses)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - start
    refused = [s for s in statuses if s != 200]
    assert not refused, f"{len(refused)} requests refused ({sorted(set(refused))})"
    return elapsed / len(bodies) * 1e6


def _baseline(public_key: rsa.RSAPublicKey) -> App:
    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        assertion = parse_qs(body.decode())["assertion"][0]
        signing_input, _, signature = assertion.rpartition(".")
        pad = "=" * (-len(signature) % 4)
        public_key.verify(
            base64.urlsafe_b64decode(signature + pad), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": orjson.dumps({"access_token": "x", "token_type": "Bearer"})})

    return app


async def _started(settings: Settings, *, two_writes: bool = False) -> ForcegateApp:
    app = create_app(settings)
    await app.startup()
    if two_writes:
        service = app.service
        assert service is not None
        service.stores = dataclasses.replace(service.stores, grants=_TwoWrites(service.stores))
    return app


async def main(rounds: int, requests: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = self_signed_certificate(key, cn="bench", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    with ProcessPoolExecutor(
        initializer=init_minter, initargs=(key_pem, cert_pem, ORG, PUBLIC_URL + "/oauth2/token")
    ) as pool:
        names = [
            "baseline (form, RS256 verify, JSON)",
            "forcegate, no rate limit",
            "forcegate, rate hit in the grant",
            "forcegate, rate hit as its own write",
        ]
        minted = Minter(pool).mint(rounds * requests * len(names))
    bodies = [
        f"grant_type={quote('urn:ietf:params:oauth:grant-type:jwt-bearer')}&assertion={a}".encode() for a in minted
    ]
    with tempfile.TemporaryDirectory(prefix="forcegate-bench-token-") as folder:
        settings = Settings(data_dir=Path(folder), public_url=PUBLIC_URL, failure_rate_limit=0)
        await bootstrap(settings)
        unlimited = await _started(dataclasses.replace(settings, token_rate_limit=0))
        # Far above what one run spends (every assertion is one org's), so every hit is counted and none refused.
        limited_settings = dataclasses.replace(settings, token_rate_limit=1_000_000)
        folded = await _started(limited_settings)
        two_writes = await _started(limited_settings, two_writes=True)
        try:
            registry = unlimited.registry
            assert registry is not None
            service = unlimited.service
            assert service is not None
            await service.stores.trust.add_org(Org(org_id=ORG))
            await service.stores.trust.add_certificate(ORG, certificate)
            contenders: list[tuple[str, App]] = [
                (names[0], _baseline(key.public_key())),
                (names[1], unlimited),
                (names[2], folded),
                (names[3], two_writes),
            ]
            costs: dict[str, list[float]] = {name: [] for name in names}
            position = 0
            for _ in range(rounds):
                for name, app in contenders:
                    costs[name].append(await _round(app, bodies[position : position + requests]))
                    position += requests
        finally:
            for app in (unlimited, folded, two_writes):
                await app.shutdown()
    base = costs[names[0]]
    say(f"{rounds} rounds of {requests} requests per contender, {IN_FLIGHT} in flight")
    print("POST /oauth2/token in process, a new assertion per request (median of interleaved rounds)")
    print(f"  {'contender':<40} {'µs/req':>8} {'req/s':>9} {'vs baseline':>12} {'vs no limit':>12}")
    for name in names:
        own = costs[name]
        to_base = statistics.median(b / o for b, o in zip(base, own, strict=True))
        to_free = statistics.median(f / o for f, o in zip(costs[names[1]], own, strict=True))
        median = statistics.median(own)
        print(f"  {name:<40} {median:>8.1f} {1e6 / median:>9,.0f} {to_base:>11.0%} {to_free:>11.0%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.requests))
