"""What only the PostgreSQL backend can show: a server that goes away and comes back, error mapping, the rows."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import Iterator

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from forcegate.errors import AlreadyExists, ConfigurationError, RegistryError, StoreUnavailable
from forcegate.stores import Org, SigningKey, Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.postgres import open_postgres_stores
from forcegate.stores.postgres_db import HEALTH_TIMEOUT, PostgresDatabase
from stores.stores_support import NOW, ORG, run, shared_database_url

BOX = SecretBox(bytes(range(32)))
PASSWORD = "pw-NEVER-IN-A-MESSAGE"


@contextlib.contextmanager
def opened(url: str) -> Iterator[Stores]:
    stores = run(open_postgres_stores(url, box=BOX))
    try:
        yield stores
    finally:
        run(stores.close())


def schema_of(url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["search_path"][0]


def with_password(url: str) -> str:
    """``url`` with a password (the test server trusts local connections and ignores it)."""
    parts = urllib.parse.urlsplit(url)
    user, _, hosts = parts.netloc.rpartition("@")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user or 'postgres'}:{PASSWORD}@{hosts}"))


async def own_backends(url: str) -> list[int]:
    """The server pids of the pool's connections: the test URL names them after their schema."""
    conn = await asyncpg.connect(shared_database_url())
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 "
            "AND pid <> pg_backend_pid()",
            schema_of(url),
        )
    finally:
        await conn.close()
    return [row[0] for row in rows]


async def kill_own_backends(url: str) -> int:
    """Terminate the pool's server connections (as a server restart would); wait until they are gone.

    Returns how many were killed. (The pool may already be replacing them: asyncpg reconnects its
    minimum when it notices a loss while the loop runs.)
    """
    killed = set(await own_backends(url))
    conn = await asyncpg.connect(shared_database_url())
    try:
        # Only the pids listed above: in one WHERE clause the server may call the function first.
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", list(killed))
    finally:
        await conn.close()
    deadline = time.monotonic() + 10
    while killed & set(await own_backends(url)):
        assert time.monotonic() < deadline, "the terminated backends did not exit"
        await asyncio.sleep(0.02)
    return len(killed)


async def busy(stores: Stores, n: int) -> None:
    """Make the pool open ``n`` connections: ``n`` reads at once each need their own (not generation():
    concurrent calls of it share one read)."""
    await asyncio.gather(*(stores.trust.get_org(ORG) for _ in range(n)))


# --- unreachable at start ------------------------------------------------------------------------------


def test_an_unreachable_server_refuses_start_quickly_and_quotes_no_password() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        run(open_postgres_stores(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test", box=BOX))
    assert time.monotonic() - started < 5
    assert "postgresql://postgres@127.0.0.1:1/test" in caught.value.reason
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:notaport/test",
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test?sslmode=bogus",
        f"postgresql://postgres@127.0.0.1:5432/test?password={PASSWORD}&bad",
    ],
)
def test_a_malformed_url_is_a_configuration_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        run(PostgresDatabase.open(url))
    assert "invalid PostgreSQL URL postgresql://postgres@127.0.0.1:" in caught.value.reason
    assert PASSWORD not in str(caught.value)


def test_a_pool_size_below_one_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="pool size"):
        run(PostgresDatabase.open(shared_database_url(), pool_size=0))


# --- the server drops every connection (a restart) -----------------------------------------------------


def test_reads_survive_dropped_connections_at_once(pg_url: str) -> None:
    with opened(pg_url) as stores:
        run(stores.trust.add_org(Org(org_id=ORG, name="Acme")))
        run(busy(stores, 5))
        assert len(run(own_backends(pg_url))) > 1
        assert run(kill_own_backends(pg_url)) > 1
        # Idempotent reads retry once on a fresh connection: no request fails.
        org = run(stores.trust.get_org(ORG))
        assert org is not None
        assert org.name == "Acme"
        assert run(stores.trust.generation()) == 1
        assert run(stores.check()) == {"database": "ok"}


def test_writes_fail_at_most_once_after_dropped_connections(pg_url: str) -> None:
    with opened(with_password(pg_url)) as stores:
        run(busy(stores, 5))
        before = set(run(own_backends(pg_url)))
        run(kill_own_backends(pg_url))
        outcomes: list[object] = []
        for n in range(6):
            try:
                outcomes.append("won" if run(stores.replay.claim(f"k{n}", NOW + 60, now=NOW)) else "lost")
            except StoreUnavailable as exc:  # writes are not retried: whether they committed is unknown
                outcomes.append(exc)
        failures = [str(outcome) for outcome in outcomes if isinstance(outcome, StoreUnavailable)]
        assert len(failures) <= 1
        assert not any(PASSWORD in failure for failure in failures)
        assert outcomes[-5:] == ["won"] * 5
        # Recovered on new server connections, without reopening the stores.
        assert before.isdisjoint(run(own_backends(pg_url)))
        assert run(stores.replay.claim("k5", NOW + 60, now=NOW)) is False


def test_concurrent_requests_after_dropped_connections_recover_together(pg_url: str) -> None:
    with opened(pg_url) as stores:
        run(busy(stores, 5))
        run(kill_own_backends(pg_url))

        async def burst() -> list[object]:
            return list(
                await asyncio.gather(
                    *(stores.replay.claim(f"c{n}", NOW + 60, now=NOW) for n in range(5)), return_exceptions=True
                )
            )

        first = run(burst())
        assert all(result is True or isinstance(result, StoreUnavailable) for result in first), first
        # What the first burst claimed stays claimed; what it failed to write was not written.
        assert run(burst()) == [result is not True for result in first]


# --- a server that is gone, or hangs, behind a proxy the test controls ---------------------------------


class Proxy:
    """A TCP proxy to the test server: ``stop()`` takes the server away, ``hang()`` makes it stop answering."""

    def __init__(self) -> None:
        target = urllib.parse.urlsplit(shared_database_url())
        self._target = (target.hostname or "127.0.0.1", target.port or 5432)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._hanging = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        self._hanging = False
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def hang(self) -> None:
        self._hanging = True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if not self._hanging:
                    writer.write(data)
                    await writer.drain()
        writer.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    proxy = Proxy()
    run(proxy.start())
    yield proxy
    run(proxy.stop())


def through(proxy: Proxy, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"postgres:{PASSWORD}@127.0.0.1:{proxy.port}"))


def test_a_server_that_goes_away_fails_closed_and_is_used_again_when_back(pg_url: str, proxy: Proxy) -> None:
    with opened(through(proxy, pg_url)) as stores:
        run(busy(stores, 3))
        run(proxy.stop())
        for call in (stores.replay.claim("k", NOW + 60, now=NOW), stores.trust.generation()):
            with pytest.raises(StoreUnavailable) as caught:
                run(call)
            assert f"127.0.0.1:{proxy.port}" in caught.value.reason
            assert PASSWORD not in str(caught.value)
        started = time.monotonic()
        health = run(stores.check())["database"]
        assert health != "ok"
        assert time.monotonic() - started < HEALTH_TIMEOUT + 1
        run(proxy.start())  # the same port: the server is back
        assert run(stores.replay.claim("k", NOW + 60, now=NOW)) is True
        assert run(stores.check()) == {"database": "ok"}


def test_health_answers_promptly_when_the_server_hangs(pg_url: str, proxy: Proxy) -> None:
    with opened(through(proxy, pg_url)) as stores:
        run(busy(stores, 2))
        proxy.hang()
        started = time.monotonic()
        health = run(stores.check())["database"]
        assert time.monotonic() - started < HEALTH_TIMEOUT + 1
        assert "did not answer" in health
        run(proxy.stop())  # so that closing the pool need not wait for a hung server


def test_a_hanging_server_is_store_unavailable_after_the_command_timeout(pg_url: str, proxy: Proxy) -> None:
    db = run(PostgresDatabase.open(through(proxy, pg_url), command_timeout=0.5))
    try:
        assert run(db.fetchval("SELECT 1")) == 1
        proxy.hang()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            run(db.execute("SELECT 1"))
        assert time.monotonic() - started < 3
    finally:
        run(db.close())


# --- error mapping -------------------------------------------------------------------------------------


@pytest.fixture
def db(pg_url: str) -> Iterator[PostgresDatabase]:
    with opened(pg_url):  # creates the schema
        pass
    database = run(PostgresDatabase.open(pg_url))
    yield database
    run(database.close())


def test_a_key_conflict_is_already_exists_only_where_the_caller_named_it(db: PostgresDatabase) -> None:
    insert = "INSERT INTO store_meta (name, value) VALUES ($1, $2)"
    assert run(db.execute(insert, "k", "v1")) == 1
    with pytest.raises(AlreadyExists) as caught:
        run(db.execute(insert, "k", "v2", duplicate="k exists"))
    assert caught.value.reason == "k exists"
    with pytest.raises(RegistryError) as refused:
        run(db.execute(insert, "k", "v3"))
    assert not isinstance(refused.value, AlreadyExists)
    # Another integrity error (a CHECK) is a RegistryError, its DETAIL (the row) left out.
    with pytest.raises(RegistryError) as checked:
        run(db.execute("INSERT INTO trust_generation (singleton, generation) VALUES (2, 12345)"))
    assert "12345" not in str(checked.value)
    assert run(db.fetchval("SELECT value FROM store_meta WHERE name = 'k'")) == "v1"


def test_a_programming_error_is_not_disguised_as_an_outage(db: PostgresDatabase) -> None:
    with pytest.raises(asyncpg.DataError):  # asyncpg refuses the argument: a bug to fix, not a 503
        run(db.execute("DELETE FROM replay WHERE expires_at < $1", "not a number"))
    with pytest.raises(StoreUnavailable, match="does not exist"):  # fail closed on what the server refuses
        run(db.fetch("SELECT * FROM no_such_table"))


def test_a_connection_back_in_the_pool_has_no_transaction_left_open(pg_url: str) -> None:
    """The pool skips asyncpg's reset query (decision 0027) but still rolls back what a request left open."""
    with opened(pg_url):  # creates the schema
        pass
    database = run(PostgresDatabase.open(pg_url, pool_size=1))  # one connection: the next use is the same one

    async def abandon() -> None:
        async with database.connection() as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO store_meta (name, value) VALUES ('left-open', 'x')")
            # returned to the pool mid-transaction, as a cancelled request would

    try:
        run(abandon())
        assert run(database.fetchval("SELECT count(*) FROM store_meta WHERE name = 'left-open'")) == 0
        assert run(database.execute("INSERT INTO store_meta (name, value) VALUES ('after', 'y')")) == 1
    finally:
        run(database.close())


def test_a_failed_transaction_is_rolled_back(db: PostgresDatabase) -> None:
    async def half_then_fail() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO store_meta (name, value) VALUES ('a', '1')")
            raise RuntimeError("midway")

    with pytest.raises(RuntimeError, match="midway"):
        run(half_then_fail())
    assert run(db.fetchval("SELECT COUNT(*) FROM store_meta WHERE name = 'a'")) == 0


def test_a_closed_database_is_unavailable_and_closes_once(db: PostgresDatabase) -> None:
    run(db.close())
    run(db.close())
    assert run(db.health()) == "closed"
    with pytest.raises(StoreUnavailable, match="closed"):
        run(db.fetchval("SELECT 1"))
    with pytest.raises(StoreUnavailable, match="closed"):
        run(db.execute("SELECT 1"))


# --- the rows ------------------------------------------------------------------------------------------


async def all_values(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        # The names come from the catalog, quoted as identifiers.
        rows = [await conn.fetch(f'SELECT t::text FROM "{row[0]}" AS t') for row in tables]  # noqa: S608
    finally:
        await conn.close()
    return repr([[r[0] for r in table] for table in rows])


async def asyncpg_fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_secrets_are_stored_encrypted(pg_url: str) -> None:
    consumer_secret = "consumer-secret-PLAINTEXT-0001"
    admin_token = "admin-token-PLAINTEXT-0002"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with opened(pg_url) as stores:
        run(stores.trust.add_app(consumer_key="ck-at-rest", name="App", secret=consumer_secret))
        run(stores.keys.add_signing_key(SigningKey(kid="kid-1", algorithm="ES256", private_pem=pem, created_at=NOW)))
        run(stores.keys.set_admin_token(admin_token))
        stored = run(all_values(pg_url))
        assert "ck-at-rest" in stored  # the scan does see plaintext columns
        for secret in (consumer_secret, admin_token, pem.decode().splitlines()[1]):
            assert secret not in stored
        sealed = run(asyncpg_fetchval(pg_url, "SELECT secret_enc FROM app_secrets"))
        assert str(sealed).startswith(f"v1.{BOX.key_id}.")
        assert [s.secret for s in run(stores.trust.app_secrets("ck-at-rest"))] == [consumer_secret]
        assert [k.private_pem for k in run(stores.keys.signing_keys())] == [pem]


def test_a_different_key_is_refused_at_open(pg_url: str) -> None:
    with opened(pg_url):
        pass
    with pytest.raises(ConfigurationError, match="different key"):
        run(open_postgres_stores(pg_url, box=SecretBox(bytes(32))))


def test_every_registry_write_bumps_the_generation_others_see(pg_url: str) -> None:
    with opened(pg_url) as stores, opened(pg_url) as other:
        assert run(other.trust.generation()) == 0
        run(stores.trust.add_org(Org(org_id=ORG)))
        run(stores.trust.update_org(ORG, name="Renamed"))
        assert run(other.trust.generation()) == 2
        assert run(asyncpg_fetchval(pg_url, "SELECT generation FROM trust_generation")) == 2
        with pytest.raises(AlreadyExists):
            run(stores.trust.add_org(Org(org_id=ORG)))
        assert run(other.trust.generation()) == 2  # the failed write's bump was rolled back


def test_concurrent_registry_writes_keep_the_last_active_secret(pg_url: str) -> None:
    with opened(pg_url) as stores, opened(pg_url) as other:
        run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
        run(stores.trust.add_app_secret("ck", "s2"))
        first, second = (s.id for s in run(stores.trust.app_secrets("ck")))

        async def race() -> list[object]:
            return list(
                await asyncio.gather(
                    stores.trust.retire_app_secret("ck", first),
                    other.trust.retire_app_secret("ck", second),
                    return_exceptions=True,
                )
            )

        outcomes = run(race())
        # The writes are serialised: one retires its secret, the other finds it is the last one.
        assert sum(isinstance(outcome, RegistryError) for outcome in outcomes) == 1
        assert len(run(stores.trust.app_secrets("ck"))) == 1
