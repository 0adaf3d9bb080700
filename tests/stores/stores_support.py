"""Support for the store contract suite: run a coroutine, the backends, test schemas, shared records."""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import os
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

import private_servers
from forcegate.core.identity import Identity
from forcegate.stores import AuditEvent, IssuedToken, Session, Stores
from forcegate.stores.postgres_db import describe
from helpers import self_signed

T = TypeVar("T")

ORG_15 = "00Dx00000001hxy"
ORG = "00Dx00000001hxyEAA"  # the canonical 18-character form of ORG_15
OTHER_ORG = "00D5e000000AbCdEAK"
THIRD_ORG = "00D300000000001EAA"
NOW = 1_700_000_000.0


def shared_database_url() -> str:
    """The PostgreSQL server the scale-out tests use (chosen at pytest start: tests/private_servers.py).

    Each test works in a fresh schema of its own.
    """
    return os.environ.get(private_servers.DATABASE_VARIABLE) or private_servers.DEFAULT_DATABASE_URL


# ONE event loop for every call: an asyncpg pool belongs to the loop that opened it, so a store
# opened by one run() must be usable by the next.
_RUNNER = asyncio.Runner()
atexit.register(_RUNNER.close)


def run(awaitable: Awaitable[T]) -> T:
    """Await one store call from a synchronous test (the project has no pytest-asyncio)."""

    async def wait() -> T:
        return await awaitable

    return _RUNNER.run(wait())


@dataclass(frozen=True)
class Backend:
    """One backend under test. ``open`` returns a new handle on the same data (as another worker would).

    ``expires_by_itself``: sessions, the revocations' mirror and the shared rate counters expire on
    their own (Redis TTLs), so ``purge()`` finds none of them left to delete. Single-use claims are in
    the database on every backend (decision 0035).
    """

    name: str
    open: Callable[[], Awaitable[Stores]]
    expires_by_itself: bool = False
    redis_prefix: str = ""  # the Redis keys of this backend, when it has any


# --- PostgreSQL test schemas -------------------------------------------------------------------------


async def create_schema() -> str:
    """A new, empty schema ``fg_t_<hex>`` on the test server; the test FAILS (never skips) without a server."""
    name = f"fg_t_{secrets.token_hex(6)}"
    conn = await _connect()
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
    finally:
        await conn.close()
    return name


async def drop_schema(name: str) -> None:
    conn = await _connect()
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()


def schema_url(schema: str) -> str:
    """The test URL working in ``schema``; its connections are named after it (to find and kill them)."""
    return with_query(shared_database_url(), search_path=schema, application_name=schema)


def with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), *params.items()])
    return urllib.parse.urlunsplit(parts._replace(query=query))


async def _connect() -> asyncpg.Connection[asyncpg.Record]:
    url = shared_database_url()
    try:
        return await asyncpg.connect(url, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        pytest.fail(
            f"the PostgreSQL test server at {describe(url)} does not answer ({exc}); start it, or point "
            f"FORCEGATE_TEST_DATABASE_URL at one{private_servers.unavailable(private_servers.DATABASE_VARIABLE)}",
            pytrace=False,
        )


def certificate(cn: str = "org-cert") -> x509.Certificate:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return self_signed(ec.generate_private_key(ec.SECP256R1()), cn=cn, start=start, days=365)


def identity(**overrides: Any) -> Identity:
    values: dict[str, Any] = {
        "source": "canvas",
        "org_id": ORG,
        "user_id": "005x0000001SyyEAAS",
        "username": "admin@example.com",
        "instance_url": "https://example.my.salesforce.com",
        "record_id": None,
        "parameters": {"accountId": "001xx000003DGWiAAO", "flags": [1, 2, 3], "nested": {"k": "v"}},
        "scopes": frozenset({"api", "refresh_token"}),
        "issuer": "3MVG9consumerkey",
        "expires_at": NOW + 3600,
    }
    values.update(overrides)
    return Identity(**values)


def event(n: int, *, org_id: str | None = ORG, result: str = "allowed") -> AuditEvent:
    return AuditEvent(
        at=NOW + n,
        endpoint="/oauth2/token",
        credential="jwt-bearer",
        result=result,  # type: ignore[arg-type]  # tests feed invalid values on purpose
        code="ok" if result == "allowed" else "token_expired",
        detail=f"event {n}",
        org_id=org_id,
        user_id="005x0000001SyyEAAS",
        subject="admin@example.com",
        issuer=ORG,
        client="3MVG9consumerkey",
    )


def token(jti: str = "t1", expires_at: float = NOW + 600) -> IssuedToken:
    return IssuedToken(
        jti=jti,
        org_id=ORG,
        user_id="005x0000001SyyEAAS",
        client_id="3MVG9consumerkey",
        scope="api web",
        issued_at=NOW,
        expires_at=expires_at,
        mac="m" * 43,
    )


def session(id_hash: str = "a" * 64, expires_at: float = NOW + 3600, *, created_at: float = NOW) -> Session:
    return Session(id_hash=id_hash, identity=identity(), created_at=created_at, expires_at=expires_at)
