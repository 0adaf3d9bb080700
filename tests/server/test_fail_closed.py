"""Fails closed, recovers by itself: PostgreSQL or Redis stopped under load, then started again.

Private PostgreSQL and Redis servers (the machine's own binaries, on their own ports) are stopped
the hard way — ``pg_ctl -m immediate``, SIGKILL — while a client keeps exchanging assertions and
calling the API. While PostgreSQL is down, the token endpoint answers 503 ``temporarily_unavailable``
and issues nothing. Grants and access tokens need PostgreSQL only (decisions 0032 and 0035): while
Redis is down they go on, and what needs Redis (a revocation's mirror) is refused. ``/readyz`` names
the failing dependency; when the server is back, the same service process serves again. Every token
handed out during the whole run has its record and audit row.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from private_servers import PrivatePostgres, PrivateRedis
from server.backends import Backend, new_encryption_key
from server.live import (
    JWT_BEARER_GRANT,
    ORG_ID,
    LiveServer,
    Org,
    get_me,
    jti_of,
    make_org,
    post_token,
    register_org,
    start_server,
)

RECOVERY_TIMEOUT = 20.0


@dataclass
class Deployment:
    server: LiveServer
    postgres: PrivatePostgres
    redis: PrivateRedis
    org: Org


@pytest.fixture
def deployment(tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> Iterator[Deployment]:
    postgres = PrivatePostgres()
    redis = PrivateRedis(tmp_path / "redis")
    try:
        postgres.start()
        redis.start()
        backend = Backend(postgres.url, f"redis://127.0.0.1:{redis.port}/0", "fg:", new_encryption_key())
        # The load drives one org far beyond a real org's rate on a frozen clock (one window): the
        # limit at its maximum, so the counters are in play when a store fails, but never refuse.
        server = start_server(tmp_path / "data", clock=clock, token_rate_limit=1_000_000, **backend.settings())
        try:
            org = make_org(ORG_ID, rsa_key, clock)
            register_org(server.url, server.admin_token, org)
            yield Deployment(server, postgres, redis, org)
        finally:
            server.stop()
    finally:
        redis.stop()
        postgres.close()


@dataclass
class Load:
    """A client exchanging fresh assertions and calling the API in a loop, recording every answer."""

    deployment: Deployment
    tokens: list[str] = field(default_factory=list)  # access tokens handed out (HTTP 200)
    refusals: list[tuple[int, str]] = field(default_factory=list)  # (status, error) of every non-200
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        server, org = self.deployment.server, self.deployment.org
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not self.stop.is_set():
                form = {"grant_type": JWT_BEARER_GRANT, "assertion": org.assertion(server.token_endpoint)}
                response = client.post("/oauth2/token", data=form)
                if response.status_code == 200:
                    self.tokens.append(response.json()["access_token"])
                    me = client.get("/api/v1/me", headers={"authorization": f"Bearer {self.tokens[-1]}"})
                    if me.status_code != 200:
                        self.refusals.append((me.status_code, me.json().get("error", "")))
                else:
                    self.refusals.append((response.status_code, response.json().get("error", "")))


@contextlib.contextmanager
def load_running(deployment: Deployment) -> Iterator[Load]:
    load = Load(deployment)
    thread = threading.Thread(target=load.run, daemon=True)
    thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the load client did not stop"


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = RECOVERY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _exchange(deployment: Deployment, assertion: str | None = None) -> httpx.Response:
    server = deployment.server
    return post_token(server.url, assertion or deployment.org.assertion(server.token_endpoint))


def _readyz(deployment: Deployment) -> tuple[int, dict[str, str]]:
    with deployment.server.client() as client:
        response = client.get("/readyz")
    return response.status_code, response.json()["checks"]


def _assert_every_token_recorded(deployment: Deployment, tokens: list[str], *, in_doubt: int) -> None:
    """Each token handed out has its issued-token row and its 'allowed' audit row.

    A record may exist for a token that was never handed out: a transaction whose COMMIT reached the
    server just before it went down, while the answer did not come back (the request got a 503).
    There can be no more of those than ``in_doubt``, the token requests in flight when it went down.
    """

    async def read() -> tuple[set[str], int]:
        conn = await asyncpg.connect(deployment.postgres.url)
        try:
            jtis = {row[0] for row in await conn.fetch("SELECT jti FROM issued_tokens")}
            allowed = await conn.fetchval(
                "SELECT count(*) FROM audit_events WHERE endpoint = '/oauth2/token' AND result = 'allowed'"
            )
        finally:
            await conn.close()
        return jtis, int(allowed)

    jtis, allowed = asyncio.run(read())
    handed_out = {jti_of(token) for token in tokens}
    assert handed_out <= jtis
    assert len(jtis - handed_out) <= in_doubt
    assert allowed == len(jtis)  # every record with its audit row, in the same transaction


def _revoke(deployment: Deployment, token: str, *, bearer: str | None = None) -> httpx.Response:
    """Revoke ``token``, authenticating with it (its holder) or with ``bearer``."""
    headers = {"authorization": f"Bearer {bearer or token}"}
    with deployment.server.client() as client:
        return client.post("/oauth2/revoke", data={"token": token}, headers=headers)


def _assert_not_ready(deployment: Deployment, failing: str) -> None:
    status, checks = _readyz(deployment)
    assert status == 503
    assert checks[failing] != "ok"
    healthy = {"database", "redis"} - {failing}
    assert all(checks[name] == "ok" for name in healthy), checks


def test_postgres_down_then_back(deployment: Deployment) -> None:
    handed_out: list[str] = []
    used = deployment.org.assertion(deployment.server.token_endpoint)
    assert _exchange_ok(deployment, handed_out, used)
    with load_running(deployment) as load:
        _wait_for(lambda: len(load.tokens) >= 5, "tokens before the outage")
        deployment.postgres.stop()
        refused = _exchange(deployment)
        assert (refused.status_code, refused.json()) == (503, {"error": "temporarily_unavailable"})
        # An access token needs PostgreSQL (its record, its revocation, the registry: decision 0032).
        assert get_me(deployment.server.url, load.tokens[0]).status_code == 503
        revoking = _revoke(deployment, load.tokens[0])
        assert (revoking.status_code, revoking.json()) == (503, {"error": "temporarily_unavailable"})
        _assert_not_ready(deployment, "database")
        _wait_for(lambda: (503, "temporarily_unavailable") in load.refusals, "the load to see the outage")
        deployment.postgres.start()
        # The same service process serves again: no restart, no operator action.
        _wait_for(lambda: _exchange_ok(deployment, handed_out), "the token endpoint after the database returned")
        during = len(load.tokens)
        _wait_for(lambda: len(load.tokens) >= during + 5, "the load to resume")
        assert _readyz(deployment) == (200, {"database": "ok", "redis": "ok"})
        # Still single use: the claim outlived the outage with the database.
        replayed = _exchange(deployment, used)
        assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_grant")
    # While down: refused, never a 500 or another error; the API refused what it could not check.
    assert set(load.refusals) == {(503, "temporarily_unavailable")}
    # The load is one client: at most one of its token requests was in flight when the server went down.
    _assert_every_token_recorded(deployment, load.tokens + handed_out, in_doubt=1)


def test_redis_down_then_back(deployment: Deployment) -> None:
    handed_out: list[str] = []
    used = deployment.org.assertion(deployment.server.token_endpoint)
    assert _exchange_ok(deployment, handed_out, used)
    with load_running(deployment) as load:
        _wait_for(lambda: len(load.tokens) >= 5, "tokens before the outage")
        deployment.redis.kill()
        _assert_not_ready(deployment, "redis")
        # Grants and API calls go on (PostgreSQL decides them); the load keeps getting tokens.
        during = len(load.tokens)
        _wait_for(lambda: len(load.tokens) >= during + 5, "grants while Redis is down")
        assert get_me(deployment.server.url, load.tokens[-1]).status_code == 200
        # Still single use with Redis gone (the claim is in PostgreSQL); the refusal is a 503 since
        # its failure cannot be counted where every worker counts them (fail closed).
        replayed = _exchange(deployment, used)
        assert (replayed.status_code, replayed.json()) == (503, {"error": "temporarily_unavailable"})
        # A revocation is written to PostgreSQL, then mirrored to Redis for workers of earlier versions:
        # the caller is told it failed (503: repeat it), while it already holds for every upgraded worker.
        admin = deployment.server.admin_token
        revoking = _revoke(deployment, load.tokens[0], bearer=admin)
        assert (revoking.status_code, revoking.json()) == (503, {"error": "temporarily_unavailable"})
        # Refused (a 503 again: the refusal's failure cannot be counted), and not by chance:
        assert get_me(deployment.server.url, load.tokens[0]).status_code == 503
        assert get_me(deployment.server.url, load.tokens[1]).status_code == 200
        deployment.redis.start()
        _wait_for(lambda: _readyz(deployment) == (200, {"database": "ok", "redis": "ok"}), "Redis to be back")
        assert get_me(deployment.server.url, load.tokens[0]).status_code == 401  # revoked, where it was written
        assert _revoke(deployment, load.tokens[0], bearer=admin).status_code == 200
        replayed = _exchange(deployment, used)
        assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_grant")
    assert load.refusals == []
    _assert_every_token_recorded(deployment, load.tokens + handed_out, in_doubt=0)


def _exchange_ok(deployment: Deployment, handed_out: list[str], assertion: str | None = None) -> bool:
    response = _exchange(deployment, assertion)
    if response.status_code == 200:
        handed_out.append(response.json()["access_token"])
        return True
    assert (response.status_code, response.json()) == (503, {"error": "temporarily_unavailable"})
    return False
