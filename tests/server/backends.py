"""The scale-out backends for the server tests: real PostgreSQL and Redis, shared or private.

* :func:`shared_backend` — the run's servers (``FORCEGATE_TEST_DATABASE_URL``,
  ``FORCEGATE_TEST_REDIS_URL``: the machine's or the run's private ones, chosen at pytest start by
  tests/private_servers.py), isolated per test by a fresh schema and a fresh key prefix, both
  removed afterwards. A server that does not answer fails the test (never a skip).
* :class:`private_servers.PrivatePostgres` and :class:`private_servers.PrivateRedis` — throwaway
  servers of the same binaries on their own ports, for the tests that stop and restart them (the
  shared ones are never stopped).
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stores import redis_support
from stores.stores_support import create_schema, drop_schema, run, schema_url


@dataclass(frozen=True)
class Backend:
    """What a forcegate process needs to use one scale-out deployment's state."""

    database_url: str
    redis_url: str | None
    redis_prefix: str
    encryption_key: str

    def settings(self) -> dict[str, Any]:
        """Keyword overrides for :class:`~forcegate.settings.Settings`."""
        return {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_prefix": self.redis_prefix,
            "encryption_key": self.encryption_key,
        }

    def environ(self) -> dict[str, str]:
        """The same, as ``FORCEGATE_*`` variables for a ``forcegate serve`` process."""
        return {f"FORCEGATE_{k.upper()}": str(v) for k, v in self.settings().items() if v is not None}


def new_encryption_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


@contextlib.contextmanager
def shared_backend(*, with_redis: bool = True) -> Iterator[Backend]:
    """A fresh schema on the shared PostgreSQL and a fresh key prefix on the shared Redis, removed afterwards."""
    schema = run(create_schema())
    redis_url = redis_support.shared_url()
    prefix = redis_support.unique("fg-test") + ":"
    if with_redis:
        redis_support.require_server(redis_url)
    try:
        yield Backend(
            database_url=schema_url(schema),
            redis_url=redis_url if with_redis else None,
            redis_prefix=prefix,
            encryption_key=new_encryption_key(),
        )
    finally:
        run(drop_schema(schema))
        if with_redis:
            redis_support.delete_prefixed(redis_url, prefix)
