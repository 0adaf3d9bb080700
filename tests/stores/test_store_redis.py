"""The Redis half of the scale-out backend, against a real server (``FORCEGATE_TEST_REDIS_URL``).

redis-py's asyncio clients are bound to the event loop that opened their connections, so each test
runs its calls on one :class:`asyncio.Runner` (the ``runner`` fixture) rather than a loop per call.
Issued-token records and audit rows go to a SQLite store, standing in for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import TimeoutError as RedisTimeoutError

from forcegate.errors import AlreadyExists, ConfigurationError, StoreUnavailable
from forcegate.stores import Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.protocols import ReplayCache, SessionStore, TokenStore
from forcegate.stores.redis_client import RedisOptions, parse_redis_url
from forcegate.stores.redis_state import (
    RATE_MARGIN,
    REVOCATION_MARGIN,
    RedisParts,
    open_redis,
    redis_key,
)
from forcegate.stores.sqlite import open_sqlite_stores
from private_servers import PrivateRedis, running
from stores import redis_support as rs
from stores.stores_support import NOW, session, token

OpenParts = Callable[..., RedisParts]


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = rs.shared_url()
    rs.require_server(url)
    return url


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    prefix = rs.unique("fgtest") + ":"
    yield prefix
    rs.delete_prefixed(redis_url, prefix)


@pytest.fixture
def client_name() -> str:
    return rs.unique("fgtest")


@pytest.fixture
def open_parts(runner: asyncio.Runner, redis_url: str, prefix: str, client_name: str) -> Iterator[OpenParts]:
    """Open Redis parts (default: the shared server, this test's prefix and client name); closed at the end."""
    opened: list[RedisParts] = []

    def open_(url: str | None = None, **kwargs: Any) -> RedisParts:
        kwargs.setdefault("prefix", prefix)
        kwargs.setdefault("client_name", client_name)
        parts = runner.run(open_redis(url or redis_url, **kwargs))
        opened.append(parts)
        return parts

    yield open_
    for parts in opened:
        runner.run(parts.close())


@pytest.fixture
def parts(open_parts: OpenParts) -> RedisParts:
    return open_parts()


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    with rs.admin_client(redis_url) as client:
        yield client


@pytest.fixture
def records(runner: asyncio.Runner, tmp_path: Path) -> Iterator[Stores]:
    stores = runner.run(open_sqlite_stores(str(tmp_path / "records.db"), box=SecretBox(os.urandom(32))))
    yield stores

    async def close() -> None:
        await stores.close()

    runner.run(close())


def lose_next_reply(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Drop the reply to the next command after the server ran it, as a network cut would.

    redis-py then closes the connection and sends the command again. Returns a list that gets one
    entry when a reply was dropped.
    """
    lost: list[int] = []
    original = Connection.read_response

    async def read_response(self: Connection, *args: Any, **kwargs: Any) -> Any:
        response = await original(self, *args, **kwargs)
        if not lost:
            lost.append(1)
            raise RedisTimeoutError("reply lost (test)")
        return response

    monkeypatch.setattr(Connection, "read_response", read_response)
    return lost


async def burst(parts: RedisParts, n: int, tag: str = "burst") -> list[bool | BaseException]:
    """``n`` concurrent claims of distinct keys; failures are returned, not raised."""
    until = time.time() + 60
    claims = (parts.replay.claim(f"{tag}-{i}", until) for i in range(n))
    return await asyncio.gather(*claims, return_exceptions=True)


def test_the_redis_stores_implement_the_protocols(parts: RedisParts, records: Stores) -> None:
    # The annotations are the check (mypy --strict); the asserts keep the test honest at run time.
    replay: ReplayCache = parts.replay
    tokens: TokenStore = parts.tokens(records.tokens)
    sessions: SessionStore = parts.sessions
    methods = [replay.claim, replay.purge, tokens.is_revoked, tokens.revoke, sessions.get]
    assert all(callable(method) for method in methods)


# --- replay claims -----------------------------------------------------------------------------------


def test_a_key_is_claimed_once(runner: asyncio.Runner, parts: RedisParts, admin: redis.Redis, prefix: str) -> None:
    later = time.time() + 300
    assert runner.run(parts.replay.claim("k1", later)) is True
    assert runner.run(parts.replay.claim("k1", later)) is False
    assert runner.run(parts.replay.claim("k1", later + 600)) is False
    assert runner.run(parts.replay.claim("k2", later)) is True
    assert 290_000 < admin.pttl(prefix + "replay:k1") <= 300_000  # Redis forgets the claim by itself
    assert runner.run(parts.replay.purge(time.time() + 10_000)) == 0  # nothing to do: TTLs purge
    assert runner.run(parts.replay.claim("k1", later)) is False
    with pytest.raises(ConfigurationError):
        runner.run(parts.replay.claim("", later))
    with pytest.raises(ConfigurationError):
        runner.run(parts.replay.claim("k3", math.inf))


def test_two_clients_racing_claim_each_key_exactly_once(runner: asyncio.Runner, open_parts: OpenParts) -> None:
    first, second = open_parts(), open_parts()
    keys = [f"jti-{i}" for i in range(300)]

    async def race() -> list[tuple[str, str]]:
        until = time.time() + 300
        calls = [(name, handle, key) for key in keys for name, handle in (("a", first), ("b", second), ("a", first))]
        random.shuffle(calls)
        results = await asyncio.gather(*(handle.replay.claim(key, until) for _, handle, key in calls))
        return [(name, key) for (name, _, key), won in zip(calls, results, strict=True) if won]

    winners = runner.run(race())
    assert sorted(key for _, key in winners) == sorted(keys)  # one winner per key, no key lost
    assert {name for name, _ in winners} == {"a", "b"}  # both clients took part in the race


def test_a_burst_beyond_the_pool_size_waits_for_a_connection(
    runner: asyncio.Runner, open_parts: OpenParts, redis_url: str
) -> None:
    small = open_parts(rs.with_query(redis_url, "max_connections=2"))
    assert runner.run(burst(small, 40)) == [True] * 40


def test_a_lapsed_claim_can_be_claimed_again_on_the_callers_clock(runner: asyncio.Runner, parts: RedisParts) -> None:
    replay = parts.replay
    assert runner.run(replay.claim("k", NOW + 60, now=NOW)) is True
    assert runner.run(replay.claim("k", NOW + 120, now=NOW + 59)) is False
    assert runner.run(replay.claim("k", NOW + 120, now=NOW + 60)) is False  # lapsed only strictly after
    assert runner.run(replay.claim("k", NOW + 120, now=NOW + 61)) is True
    assert runner.run(replay.claim("k", NOW + 200, now=NOW + 119)) is False  # the new claim's own expiry
    # Without now, the wall clock decides.
    assert runner.run(replay.claim("old", time.time() - 1)) is True
    assert runner.run(replay.claim("old", time.time() + 60)) is True
    assert runner.run(replay.claim("old", time.time() + 60)) is False


def test_the_claim_ttl_runs_on_the_callers_clock(
    runner: asyncio.Runner, parts: RedisParts, admin: redis.Redis, prefix: str
) -> None:
    assert runner.run(parts.replay.claim("k", NOW + 90, now=NOW)) is True
    assert 85_000 < admin.pttl(prefix + "replay:k") <= 90_000
    assert runner.run(parts.replay.claim("past", NOW - 5, now=NOW)) is True
    assert 0 < admin.pttl(prefix + "replay:past") <= 1_000  # at least one second


def test_a_resent_claim_wins_and_no_other_call_does(runner: asyncio.Runner, parts: RedisParts) -> None:
    replay = parts.replay
    assert runner.run(replay.claim_as("n1", "k", NOW + 60, now=NOW)) is True
    assert runner.run(replay.claim_as("n1", "k", NOW + 60, now=NOW + 1)) is True  # the same call, sent again
    assert runner.run(replay.claim_as("n2", "k", NOW + 60, now=NOW + 1)) is False
    assert runner.run(replay.claim("k", NOW + 60, now=NOW + 1)) is False
    assert runner.run(replay.release("k", "n2")) is False  # only the holder gives a claim back
    assert runner.run(replay.claim_as("n2", "k", NOW + 60, now=NOW + 2)) is False
    assert runner.run(replay.release("k", "n1")) is True
    assert runner.run(replay.claim_as("n2", "k", NOW + 60, now=NOW + 2)) is True
    with pytest.raises(ConfigurationError):
        runner.run(replay.claim_as("a nonce", "k2", NOW + 60, now=NOW))


def test_redis_py_resending_a_claim_whose_reply_was_lost_still_wins(
    runner: asyncio.Runner, parts: RedisParts, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.run(parts.replay.claim("warm-up", NOW + 60, now=NOW)) is True  # script loaded, pool open
    lost = lose_next_reply(monkeypatch)
    assert runner.run(parts.replay.claim("k", NOW + 60, now=NOW)) is True
    assert lost == [1]  # the first send ran, its reply was dropped, and redis-py sent it again
    monkeypatch.undo()
    assert runner.run(parts.replay.claim("k", NOW + 60, now=NOW)) is False


def test_a_claim_value_that_is_not_ours_is_refused(
    runner: asyncio.Runner, parts: RedisParts, admin: redis.Redis, prefix: str
) -> None:
    admin.set(prefix + "replay:odd", "not-a-claim", px=60_000)
    assert runner.run(parts.replay.claim("odd", NOW + 60, now=NOW)) is False  # fail closed


# --- tokens ------------------------------------------------------------------------------------------


def test_revocation_keeps_the_later_expiry_and_outlives_it(
    runner: asyncio.Runner, parts: RedisParts, records: Stores, admin: redis.Redis, prefix: str
) -> None:
    tokens = parts.tokens(records.tokens)
    margin_ms = REVOCATION_MARGIN * 1000
    assert runner.run(tokens.is_revoked("t1")) is False
    runner.run(tokens.revoke("t1", NOW + 600))
    runner.run(tokens.revoke("t1", NOW + 60))  # twice is fine; the later expiry is kept
    assert runner.run(tokens.is_revoked("t1")) is True
    assert runner.run(tokens.is_revoked("t2")) is False
    assert admin.get(prefix + "revoked:t1") == repr(NOW + 600).encode()
    # The expiry is long past on the wall clock: the revocation still stands for the margin.
    assert margin_ms - 10_000 < admin.pttl(prefix + "revoked:t1") <= margin_ms

    runner.run(tokens.revoke("t3", NOW + 60))
    runner.run(tokens.revoke("t3", NOW + 900))
    assert admin.get(prefix + "revoked:t3") == repr(NOW + 900).encode()

    live = time.time() + 3600
    runner.run(tokens.revoke("t4", live))
    runner.run(tokens.revoke("t4", time.time() + 10))  # neither the value nor the TTL shrinks
    assert admin.get(prefix + "revoked:t4") == repr(live).encode()
    assert 3_600_000 + margin_ms - 10_000 < admin.pttl(prefix + "revoked:t4") <= 3_600_000 + margin_ms

    assert runner.run(tokens.purge(NOW + 300)) == 0
    assert runner.run(tokens.is_revoked("t1")) is True
    # Decision 0032: the revocation itself is in PostgreSQL; Redis holds the mirror above.
    assert runner.run(records.tokens.is_revoked("t1")) is True
    assert runner.run(records.tokens.is_revoked("t4")) is True


def test_revocations_an_earlier_version_kept_on_redis_are_copied_into_postgresql(
    runner: asyncio.Runner, parts: RedisParts, records: Stores, admin: redis.Redis, prefix: str
) -> None:
    tokens = parts.tokens(records.tokens)
    # As a worker of an earlier version revokes: on Redis alone (one of them too long a jti: hashed).
    admin.set(prefix + "revoked:early1", repr(NOW + 600), px=600_000)
    admin.set(prefix + "revoked:early2", repr(NOW + 900), px=600_000)
    admin.set(redis_key(prefix, "revoked", "x" * 300), repr(NOW + 600), px=600_000)
    admin.set("other:" + "revoked:early3", repr(NOW + 600), px=600_000)  # another deployment's prefix
    runner.run(tokens.revoke("late", NOW + 600))  # an upgraded worker: both places
    try:
        assert runner.run(tokens.is_revoked("early1")) is False  # not seen until copied
        assert runner.run(tokens.copy_revocations()) == (3, 1)  # early1, early2, late; the hashed one
        assert [runner.run(tokens.is_revoked(j)) for j in ("early1", "early2", "late", "early3")] == [
            True,
            True,
            True,
            False,
        ]
        assert runner.run(tokens.copy_revocations()) == (3, 1)  # safe to repeat
        # The expiry copied is the one Redis held: kept until it and the margin are past.
        assert runner.run(records.tokens.purge(NOW + 900 + REVOCATION_MARGIN - 1)) == 2  # early1, late
        assert runner.run(tokens.is_revoked("early2")) is True
        assert runner.run(tokens.is_revoked("early1")) is False
    finally:
        admin.delete("other:revoked:early3")


def test_copying_revocations_takes_the_prefix_literally(
    runner: asyncio.Runner, open_parts: OpenParts, records: Stores, admin: redis.Redis, prefix: str
) -> None:
    # A prefix with glob characters: SCAN's MATCH must not read it as a pattern.
    odd = prefix + "[ab]*?"
    tokens = open_parts(prefix=odd).tokens(records.tokens)
    admin.set(odd + "revoked:mine", repr(NOW + 600), px=600_000)
    admin.set(prefix + "axy" + "revoked:theirs", repr(NOW + 600), px=600_000)  # matches the glob, not the prefix
    assert runner.run(tokens.copy_revocations()) == (1, 0)
    assert runner.run(records.tokens.is_revoked("mine")) is True
    assert runner.run(records.tokens.is_revoked("theirs")) is False


def test_issued_token_records_go_to_the_records_store(
    runner: asyncio.Runner, parts: RedisParts, records: Stores
) -> None:
    tokens = parts.tokens(records.tokens)
    runner.run(tokens.record_issued(token("t1", NOW + 10)))
    runner.run(tokens.record_issued(token("t2", NOW + 1000)))
    assert runner.run(records.tokens.get_issued("t1")) == token("t1", NOW + 10)
    assert runner.run(tokens.get_issued("t2")) == token("t2", NOW + 1000)
    assert runner.run(tokens.get_issued("t3")) is None
    with pytest.raises(AlreadyExists):
        runner.run(tokens.record_issued(token("t1")))
    assert runner.run(tokens.purge(NOW + 100)) == 1
    assert runner.run(records.tokens.get_issued("t1")) is None


# --- sessions ----------------------------------------------------------------------------------------


def test_session_round_trip(
    runner: asyncio.Runner, open_parts: OpenParts, parts: RedisParts, admin: redis.Redis, prefix: str
) -> None:
    runner.run(parts.sessions.create(session()))
    got = runner.run(parts.sessions.get("a" * 64, now=NOW + 10))
    assert got == session()
    assert got is not None
    assert got.identity.parameters["nested"] == {"k": "v"}
    assert got.identity.scopes == frozenset({"api", "refresh_token"})
    assert runner.run(open_parts().sessions.get("a" * 64, now=NOW)) == session()  # another worker
    assert runner.run(parts.sessions.get("b" * 64, now=NOW)) is None
    with pytest.raises(AlreadyExists):
        runner.run(parts.sessions.create(session()))
    assert 3_590_000 < admin.pttl(prefix + "session:" + "a" * 64) <= 3_600_000  # the session's lifetime
    assert runner.run(parts.sessions.purge(NOW + 10_000)) == 0


def test_an_expired_session_is_not_returned(runner: asyncio.Runner, parts: RedisParts) -> None:
    runner.run(parts.sessions.create(session(expires_at=NOW + 60)))
    assert runner.run(parts.sessions.get("a" * 64, now=NOW + 59)) is not None
    assert runner.run(parts.sessions.get("a" * 64, now=NOW + 60)) is None
    assert runner.run(parts.sessions.get("a" * 64)) is None  # the wall clock is far past NOW
    live = session("c" * 64, created_at=time.time(), expires_at=time.time() + 60)
    runner.run(parts.sessions.create(live))
    assert runner.run(parts.sessions.get("c" * 64)) == live


def test_session_delete(runner: asyncio.Runner, parts: RedisParts) -> None:
    runner.run(parts.sessions.create(session("a" * 64)))
    runner.run(parts.sessions.create(session("b" * 64)))
    runner.run(parts.sessions.delete("a" * 64))
    runner.run(parts.sessions.delete("a" * 64))  # logging out twice is not an error
    assert runner.run(parts.sessions.get("a" * 64, now=NOW)) is None
    assert runner.run(parts.sessions.get("b" * 64, now=NOW)) is not None
    runner.run(parts.sessions.create(session("a" * 64)))  # the id is free again


def test_redis_py_resending_a_session_create_does_not_report_a_duplicate(
    runner: asyncio.Runner, parts: RedisParts, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.run(parts.sessions.create(session("w" * 64)))  # script loaded, pool open
    lost = lose_next_reply(monkeypatch)
    runner.run(parts.sessions.create(session()))
    assert lost == [1]
    monkeypatch.undo()
    assert runner.run(parts.sessions.get("a" * 64, now=NOW)) == session()
    with pytest.raises(AlreadyExists):
        runner.run(parts.sessions.create(session()))


def test_unreadable_values_are_store_unavailable(
    runner: asyncio.Runner, parts: RedisParts, admin: redis.Redis, prefix: str
) -> None:
    admin.set(prefix + "session:" + "c" * 64, "{not json", px=60_000)
    with pytest.raises(StoreUnavailable, match="cannot be read"):
        runner.run(parts.sessions.get("c" * 64, now=NOW))
    admin.rpush(prefix + "session:" + "d" * 64, "a list")
    with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
        runner.run(parts.sessions.get("d" * 64, now=NOW))


# --- failures, health, recovery ----------------------------------------------------------------------


def test_an_unreachable_server_is_store_unavailable_within_seconds(
    runner: asyncio.Runner, open_parts: OpenParts, records: Stores
) -> None:
    down = open_parts("redis://:pw-never-shown@127.0.0.1:1/0")
    tokens = down.tokens(records.tokens)
    operations = [
        lambda: down.replay.claim("k", NOW + 60, now=NOW),
        lambda: down.replay.release("k", "n1"),
        lambda: tokens.revoke("t1", NOW + 60),  # its mirror here (decision 0032)
        lambda: down.sessions.create(session()),
        lambda: down.sessions.get("a" * 64),
        lambda: down.sessions.delete("a" * 64),
    ]
    for operation in operations:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            runner.run(operation())  # type: ignore[no-untyped-call]
        assert time.monotonic() - started < 5
        assert "127.0.0.1:1" in str(caught.value)
        assert "pw-never-shown" not in str(caught.value)
        assert "pw-never-shown" not in repr(caught.value.__cause__)
    started = time.monotonic()
    reason = runner.run(down.check())
    assert time.monotonic() - started < 3
    assert reason != "ok"
    assert "ConnectionError" in reason
    assert "pw-never-shown" not in reason


def test_a_server_that_never_answers_is_reported_within_the_timeouts(
    runner: asyncio.Runner, open_parts: OpenParts
) -> None:
    with socket.socket() as listener:  # accepts connections (in the kernel backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        quick = open_parts(f"redis://127.0.0.1:{port}/0?socket_timeout=0.5&socket_connect_timeout=0.5")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="Timeout"):
            runner.run(quick.replay.claim("k", NOW + 60, now=NOW))
        assert time.monotonic() - started < 4  # one retry: two timeouts, not redis-py's default ten
        patient = open_parts(f"redis://127.0.0.1:{port}/0?socket_timeout=30&socket_connect_timeout=30")
        started = time.monotonic()
        assert runner.run(patient.check()) == "no answer from Redis within 2 s"
        assert time.monotonic() - started < 3


def test_after_close_every_call_is_store_unavailable(runner: asyncio.Runner, open_parts: OpenParts) -> None:
    handle = open_parts()
    assert runner.run(handle.check()) == "ok"
    assert runner.run(handle.replay.claim("k", NOW + 60, now=NOW)) is True
    runner.run(handle.close())
    runner.run(handle.close())  # idempotent
    assert runner.run(handle.check()) == "closed"
    with pytest.raises(StoreUnavailable, match="closed"):
        runner.run(handle.replay.claim("k2", NOW + 60, now=NOW))
    with pytest.raises(StoreUnavailable, match="closed"):
        runner.run(handle.sessions.get("a" * 64))


def test_connections_killed_by_the_server_are_replaced_without_a_failed_request(
    runner: asyncio.Runner, parts: RedisParts, records: Stores, redis_url: str, client_name: str
) -> None:
    assert runner.run(burst(parts, 20, "warm")) == [True] * 20
    killed = rs.kill_named_connections(redis_url, client_name)
    assert len(killed) >= 2  # the pool held several connections, all now dead
    assert runner.run(burst(parts, 20, "after-kill")) == [True] * 20  # not one request failed
    assert rs.connection_ids(redis_url, client_name).isdisjoint(killed)  # on new connections

    tokens = parts.tokens(records.tokens)
    assert len(rs.kill_named_connections(redis_url, client_name)) >= 1
    runner.run(tokens.revoke("t1", NOW + 60))  # one at a time, too
    assert runner.run(tokens.is_revoked("t1")) is True
    runner.run(parts.sessions.create(session()))
    assert runner.run(parts.check()) == "ok"


def test_a_restarted_server_is_used_again_without_reopening_the_client(
    runner: asyncio.Runner, open_parts: OpenParts, tmp_path: Path
) -> None:
    server = PrivateRedis(tmp_path / "redis")
    with running(server):
        handle = open_parts(f"redis://127.0.0.1:{server.port}/0")
        assert runner.run(burst(handle, 10, "before")) == [True] * 10
        server.stop()
        assert runner.run(handle.check()) != "ok"
        with pytest.raises(StoreUnavailable):
            runner.run(handle.replay.claim("while-down", NOW + 60, now=NOW))
        server.start()  # same port, empty: the Lua scripts are gone and get loaded again
        assert runner.run(burst(handle, 10, "after")) == [True] * 10
        assert runner.run(handle.replay.claim("after-0", time.time() + 60)) is False
        assert runner.run(handle.check()) == "ok"


# --- keys --------------------------------------------------------------------------------------------


def test_keys_are_prefix_kind_id_and_long_ids_are_hashed(
    runner: asyncio.Runner, parts: RedisParts, records: Stores, admin: redis.Redis, prefix: str
) -> None:
    runner.run(parts.replay.claim("jti-1", NOW + 60, now=NOW))
    runner.run(parts.tokens(records.tokens).revoke("t1", NOW + 60))
    runner.run(parts.sessions.create(session()))
    assert admin.exists(prefix + "replay:jti-1", prefix + "revoked:t1", prefix + "session:" + "a" * 64) == 3
    long = "x" * 500
    assert runner.run(parts.replay.claim(long, NOW + 60, now=NOW)) is True
    assert runner.run(parts.replay.claim(long, NOW + 60, now=NOW)) is False
    hashed = redis_key(prefix, "replay", long)
    assert admin.exists(hashed) == 1
    assert len(hashed) == len(prefix) + len("replay:#") + 64
    # An id that looks like a hashed one is hashed too, so it cannot take another id's key.
    assert redis_key(prefix, "replay", hashed.removeprefix(prefix + "replay:")) != hashed
    assert redis_key("p:", "session", "abc") == "p:session:abc"


def test_a_rate_counter_is_one_key_per_window_expiring_after_it(
    runner: asyncio.Runner, parts: RedisParts, admin: redis.Redis, prefix: str
) -> None:
    start = NOW - NOW % 60
    assert runner.run(parts.rates.hit("assertions:o", start, 60, now=start + 20)) == 1
    # A later hit (a worker whose clock is ahead) keeps the TTL the window's first hit set.
    assert runner.run(parts.rates.hit("assertions:o", start, 60, now=start + 50)) == 2
    name = prefix + f"rate:assertions:o@{start!r}"
    assert admin.get(name) == b"2"
    ttl = admin.pttl(name) / 1000
    assert 40 + RATE_MARGIN - 2 < ttl <= 40 + RATE_MARGIN  # the rest of the window, plus the margin


def test_open_redis_refuses_bad_prefixes(runner: asyncio.Runner) -> None:
    for prefix in ("", "two words:"):
        with pytest.raises(ConfigurationError, match="prefix"):
            runner.run(open_redis("redis://127.0.0.1:6379/0", prefix=prefix))


# --- URL parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", {"mode": "standalone", "hosts": (("127.0.0.1", 6379),), "db": 0}),
        ("redis://cache", {"hosts": (("cache", 6379),), "db": 0, "tls": False, "password": None}),
        (
            "rediss://app:p%40ss%23word@cache.example.com:6380/2?ssl_cert_reqs=none&ssl_check_hostname=false",
            {"tls": True, "username": "app", "password": "p@ss#word", "db": 2, "hosts": (("cache.example.com", 6380),)},
        ),
        ("redis://:TopSecret9@[::1]:7000/3", {"hosts": (("::1", 7000),), "username": None, "password": "TopSecret9"}),
        ("redis://cache?db=5", {"db": 5}),
        ("unix:///var/run/redis.sock?db=4", {"unix_path": "/var/run/redis.sock", "db": 4, "hosts": ()}),
        ("unix://:TopSecret9@/run/redis/r.sock", {"unix_path": "/run/redis/r.sock", "password": "TopSecret9"}),
        (
            "redis+sentinel://TopSecret9@10.0.0.1:26379,10.0.0.2,[fe80::1]:26380/mymaster?db=1",
            {
                "mode": "sentinel",
                "hosts": (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("fe80::1", 26380)),
                "password": "TopSecret9",
                "username": None,
                "service_name": "mymaster",
                "db": 1,
            },
        ),
        ("redis+sentinel://s1/mymaster", {"mode": "sentinel", "hosts": (("s1", 26379),), "db": 0}),
        ("redis+cluster://a:7000,b:7001", {"mode": "cluster", "hosts": (("a", 7000), ("b", 7001)), "tls": False}),
        ("rediss+cluster://u:TopSecret9@a/", {"mode": "cluster", "tls": True, "hosts": (("a", 6379),)}),
        (
            "redis://h/0?socket_timeout=0.5&socket_connect_timeout=1&max_connections=10&health_check_interval=0"
            "&pool_timeout=3",
            {
                "options": RedisOptions(
                    socket_timeout=0.5,
                    socket_connect_timeout=1.0,
                    max_connections=10,
                    health_check_interval=0,
                    pool_timeout=3.0,
                )
            },
        ),
    ],
)
def test_redis_urls(url: str, expected: dict[str, object]) -> None:
    target = parse_redis_url(url)
    for name, value in expected.items():
        assert getattr(target, name) == value, name
    assert "TopSecret9" not in repr(target)
    assert "TopSecret9" not in target.describe()


def test_url_defaults_answer_a_dead_server_quickly() -> None:
    options = parse_redis_url("redis://h").options
    assert options.socket_timeout == options.socket_connect_timeout == 2.0
    assert options.health_check_interval > 0
    assert options.max_connections >= 10


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("http://:TopSecret9@h", "scheme 'http'"),
        ("redis://:Top#Secret9@h", "'#'"),
        ("redis://:TopSecret9@h1,h2", "one host"),
        ("redis://:TopSecret9@h:0", "port"),
        ("redis://h:99999", "port"),
        ("redis://h:abc", "port"),
        ("redis://:TopSecret9@::1:6379", "IPv6"),
        ("redis://[::1:6379", "cannot be parsed"),
        ("redis://[::1]x", "IPv6"),
        ("redis://h/x", "database number"),
        ("redis://h/1?db=2", "two different databases"),
        ("redis://h?foo=1", "unknown Redis URL option 'foo'"),
        ("redis://h?socket_timeout=0", "seconds"),
        ("redis://h?socket_timeout=abc", "seconds"),
        ("redis://h?max_connections=0", "whole number"),
        ("redis://h?db=-1", "whole number"),
        ("redis://h?db=1&db=2", "twice"),
        ("redis://h?ssl_ca_certs=/etc/ca.pem", "needs TLS"),
        ("rediss://h?ssl_cert_reqs=maybe", "none, optional or required"),
        ("rediss://h?ssl_check_hostname=perhaps", "true or false"),
        ("redis+sentinel://:TopSecret9@h:26379", "service name"),
        ("redis+sentinel://h/a/b", "service name"),
        ("redis+sentinel://h,,h2/m", "needs a host"),
        ("redis+cluster://:TopSecret9@h/1", "only database 0"),
        ("redis+cluster://h?db=2", "only database 0"),
        ("unix://host/path.sock", "no host"),
        ("unix://", "socket path"),
        ("redis://", "needs a host"),
        ("redis://:TopSecret9@", "needs a host"),
        ("redis://h?a&&b", "malformed"),
    ],
)
def test_bad_redis_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_redis_url(url)
    assert "TopSecret9" not in str(caught.value)
    assert "Secret9" not in str(caught.value)


def test_sentinel_and_cluster_urls_build_their_clients_without_io(runner: asyncio.Runner) -> None:
    sentinel = runner.run(open_redis("redis+sentinel://127.0.0.1:1/mymaster?db=2"))
    cluster = runner.run(open_redis("redis+cluster://127.0.0.1:1,127.0.0.1:2"))
    try:
        assert isinstance(sentinel.client.connection_pool, SentinelConnectionPool)  # type: ignore[union-attr]
        assert sentinel.client.connection_pool.service_name == "mymaster"  # type: ignore[union-attr]
        assert isinstance(cluster.client, RedisCluster)
        with pytest.raises(StoreUnavailable):
            runner.run(sentinel.replay.claim("k", NOW + 60, now=NOW))
        assert runner.run(cluster.check()) != "ok"
    finally:
        runner.run(sentinel.close())
        runner.run(cluster.close())


# --- Sentinel and Cluster, for real ------------------------------------------------------------------


def test_through_a_real_sentinel(runner: asyncio.Runner, open_parts: OpenParts, tmp_path: Path, prefix: str) -> None:
    master = PrivateRedis(tmp_path / "master")
    with running(master):
        sentinel = rs.sentinel_server(tmp_path / "sentinel", master.port, "fgmaster")
        with running(sentinel):
            handle = open_parts(f"redis+sentinel://127.0.0.1:{sentinel.port}/fgmaster?db=1&max_connections=2")
            assert runner.run(handle.check()) == "ok"
            assert runner.run(handle.replay.claim("k", NOW + 60, now=NOW)) is True
            assert runner.run(handle.replay.claim("k", NOW + 60, now=NOW)) is False
            assert runner.run(burst(handle, 30)) == [True] * 30  # beyond the pool size: callers wait
            runner.run(handle.sessions.create(session()))
            with redis.Redis(port=master.port, db=1) as direct:  # it landed on the master sentinel named
                assert direct.exists(prefix + "replay:k", prefix + "session:" + "a" * 64) == 2
            unknown = open_parts(f"redis+sentinel://127.0.0.1:{sentinel.port}/no-such-master")
            with pytest.raises(StoreUnavailable, match="MasterNotFoundError"):
                runner.run(unknown.replay.claim("k", NOW + 60, now=NOW))


def test_on_a_real_three_node_cluster(
    runner: asyncio.Runner, open_parts: OpenParts, tmp_path: Path, records: Stores
) -> None:
    nodes = [
        PrivateRedis(
            tmp_path / f"node{i}",
            *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
            port=rs.free_cluster_port(),
        )
        for i in range(3)
    ]
    with running(*nodes):
        rs.form_cluster([node.port for node in nodes])
        handle = open_parts(f"redis+cluster://127.0.0.1:{nodes[0].port},127.0.0.1:{nodes[1].port}")
        assert runner.run(handle.check()) == "ok"
        keys = [f"jti-{i}" for i in range(60)]

        async def claim_all() -> list[bool]:
            return list(await asyncio.gather(*(handle.replay.claim(k, NOW + 60, now=NOW) for k in keys)))

        assert runner.run(claim_all()) == [True] * 60
        assert runner.run(claim_all()) == [False] * 60
        runner.run(handle.sessions.create(session()))
        assert runner.run(handle.sessions.get("a" * 64, now=NOW)) == session()
        tokens = handle.tokens(records.tokens)
        for jti in keys[::3]:
            runner.run(tokens.revoke(jti, time.time() + 600))

        async def check_all() -> list[bool]:  # read in PostgreSQL (decision 0032)
            return list(await asyncio.gather(*(tokens.is_revoked(k) for k in keys)))

        assert runner.run(check_all()) == [i % 3 == 0 for i in range(60)]

        # ... and mirrored for earlier workers, each key on its own shard.
        async def mirrored() -> list[bool]:
            return [bool(await handle.client.exists(redis_key(handle.prefix, "revoked", k))) for k in keys]

        assert runner.run(mirrored()) == [i % 3 == 0 for i in range(60)]
        for node in nodes:  # the single-key scripts ran on every shard, routed by slot
            with redis.Redis(port=node.port) as direct:
                assert direct.dbsize() > 0
