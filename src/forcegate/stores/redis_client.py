"""The Redis client of the scale-out backend: one URL in, one client out, every failure a StoreUnavailable.

URL forms (``FORCEGATE_REDIS_URL``)::

    redis://[[user]:password@]host[:6379][/db]        plain TCP
    rediss://[[user]:password@]host[:6379][/db]       TLS
    unix://[[user]:password@]/path/to/redis.sock[?db=N]
    redis+sentinel://[[user]:password@]host[:26379][,host[:port]…]/service_name[?db=N]
    redis+cluster://[[user]:password@]host[:6379][,host[:port]…]
    (rediss+sentinel:// and rediss+cluster:// speak TLS)

A userinfo without ``:`` is a password (``redis+sentinel://s3cret@…``). For Sentinel the credentials
are the master's; the sentinels themselves are reached without a password. Query options:
``socket_timeout``, ``socket_connect_timeout``, ``pool_timeout`` (seconds, default 2),
``health_check_interval`` (seconds, default 30), ``max_connections`` (default 50), ``db``, and with TLS
``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs`` (none/optional/required),
``ssl_check_hostname``. Anything else is a :class:`ConfigurationError`, which never quotes the URL.

Failure behaviour: short socket timeouts so a dead server is answered (503) within a few seconds, and
one retry so a pooled connection the server dropped (restart, ``CLIENT KILL``, idle timeout) is
replaced transparently. A resent command may already have run once; every write of
:mod:`forcegate.stores.redis_state` is therefore written to be safe to resend. A burst beyond
``max_connections`` waits for a free connection on a single server and behind Sentinel; redis-py's
cluster client has no such wait, so there ``max_connections`` (per node) must cover the peak.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from forcegate.errors import ConfigurationError, StoreUnavailable

__all__ = [
    "CHECK_TIMEOUT",
    "DEFAULT_CLIENT_NAME",
    "LuaScript",
    "RedisClient",
    "RedisConnection",
    "RedisOptions",
    "RedisURL",
    "parse_redis_url",
]

T = TypeVar("T")
RedisClient: TypeAlias = Redis | RedisCluster

DEFAULT_CLIENT_NAME = "forcegate"
#: ``check()`` answers within this, whatever state the server is in.
CHECK_TIMEOUT = 2.0

Mode = Literal["standalone", "sentinel", "cluster"]
_SCHEMES: dict[str, tuple[Mode, bool]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "unix": ("standalone", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
_FLOAT_OPTIONS = frozenset({"socket_timeout", "socket_connect_timeout", "pool_timeout"})
_INT_OPTIONS = frozenset({"health_check_interval", "max_connections", "db"})
_TLS_OPTIONS = frozenset({"ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname"})
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
# Errors that mean "Redis cannot answer": connection, timeout, cluster-down, master-not-found, loading,
# read-only replica, OOM … all RedisError; socket errors surface as OSError (builtin TimeoutError too).
_UNAVAILABLE = (RedisError, RedisClusterException, OSError)


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisOptions:
    socket_timeout: float = 2.0
    socket_connect_timeout: float = 2.0
    pool_timeout: float = 2.0
    health_check_interval: int = 30
    max_connections: int = 50
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_cert_reqs: Literal["none", "optional", "required"] = "required"
    ssl_check_hostname: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisURL:
    """A parsed Redis URL. ``hosts``: the server, the sentinels or the cluster's startup nodes."""

    mode: Mode
    tls: bool = False
    hosts: tuple[tuple[str, int], ...] = ()
    unix_path: str | None = None
    service_name: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: RedisOptions = RedisOptions()

    def describe(self) -> str:
        """Where this points, for messages and logs: never the credentials."""
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.hosts)
        s = "s" if self.tls else ""
        if self.unix_path is not None:
            return f"unix://{self.unix_path}?db={self.db}"
        if self.mode == "sentinel":
            return f"redis{s}+sentinel://{hosts}/{self.service_name}?db={self.db}"
        if self.mode == "cluster":
            return f"redis{s}+cluster://{hosts}"
        return f"redis{s}://{hosts}/{self.db}"


def parse_redis_url(url: str) -> RedisURL:
    """Parse and validate ``url``; :class:`ConfigurationError` names the problem, never the URL."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError("the Redis URL is empty")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ConfigurationError("the Redis URL cannot be parsed (an IPv6 address goes in brackets)") from None
    if parts.scheme not in _SCHEMES:
        raise ConfigurationError(
            f"Redis URL scheme {parts.scheme!r} is not supported: use redis://, rediss://, unix://, "
            "redis+sentinel:// or redis+cluster://"
        )
    if parts.fragment:
        # Most often an unencoded '#' in a password, which urlsplit cuts the URL at.
        raise ConfigurationError("the Redis URL contains '#': percent-encode it (%23) inside a password")
    mode, tls = _SCHEMES[parts.scheme]
    userinfo, _, hostpart = parts.netloc.rpartition("@")
    username, password = _credentials(userinfo)
    options, db = _options(parts.query, tls=tls)
    common: dict[str, Any] = {"tls": tls, "username": username, "password": password, "options": options}
    path = unquote(parts.path)

    if parts.scheme == "unix":
        if hostpart:
            raise ConfigurationError("a unix:// Redis URL has no host: unix:///path/to/redis.sock")
        if not path or path == "/":
            raise ConfigurationError("a unix:// Redis URL needs the socket path: unix:///path/to/redis.sock")
        return RedisURL(mode=mode, unix_path=path, db=db or 0, **common)
    if mode == "standalone":
        hosts = _hosts(hostpart, 6379, what=f"{parts.scheme}://")
        if len(hosts) > 1:
            raise ConfigurationError("a redis:// URL names one host: use redis+sentinel:// or redis+cluster://")
        path_db = _path_db(path)
        if path_db is not None and db is not None and path_db != db:
            raise ConfigurationError("the Redis URL names two different databases (path and ?db=)")
        return RedisURL(mode=mode, hosts=hosts, db=path_db if path_db is not None else db or 0, **common)
    if mode == "sentinel":
        hosts = _hosts(hostpart, 26379, what="redis+sentinel://")
        service = path.strip("/")
        if not service or "/" in service:
            raise ConfigurationError("a redis+sentinel:// URL ends with the service name: …/mymaster")
        return RedisURL(mode=mode, hosts=hosts, service_name=service, db=db or 0, **common)
    hosts = _hosts(hostpart, 6379, what="redis+cluster://")
    if path.strip("/") not in ("", "0") or db:
        raise ConfigurationError("Redis Cluster has only database 0: drop the path and ?db= from the URL")
    return RedisURL(mode=mode, hosts=hosts, **common)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    if ":" not in userinfo:
        return None, unquote(userinfo)
    user, _, password = userinfo.partition(":")
    return unquote(user) or None, unquote(password) or None


def _hosts(text: str, default_port: int, *, what: str) -> tuple[tuple[str, int], ...]:
    hosts: list[tuple[str, int]] = []
    for item in text.split(","):
        item = item.strip()
        if item.startswith("["):
            host, bracket, rest = item[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ConfigurationError(f"a {what} URL has a malformed IPv6 host: write [::1]:6379")
            port_text: str | None = rest[1:] if rest else None
        else:
            host, colon, port = item.partition(":")
            if ":" in port:
                raise ConfigurationError(f"a {what} URL has an IPv6 host without brackets: write [::1]:6379")
            port_text = port if colon else None
        if not host:
            raise ConfigurationError(f"a {what} URL needs a host (host:port, comma-separated for several)")
        hosts.append((unquote(host), _port(port_text, default_port, what=what)))
    return tuple(hosts)


def _port(text: str | None, default: int, *, what: str) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigurationError(f"a {what} URL has an invalid port: 1-65535")
    return int(text)


def _path_db(path: str) -> int | None:
    text = path.strip("/")
    if not text:
        return None
    if not text.isdigit():
        raise ConfigurationError("the path of a redis:// URL is the database number (redis://host:6379/0)")
    return int(text)


def _options(query: str, *, tls: bool) -> tuple[RedisOptions, int | None]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise ConfigurationError("the Redis URL's query string is malformed") from None
    values: dict[str, Any] = {}
    for name, value in pairs:
        if name in values:
            raise ConfigurationError(f"the Redis URL option {name!r} is given twice")
        values[name] = _option(name, value, tls=tls)
    db = values.pop("db", None)
    if db is not None and db < 0:
        raise ConfigurationError("the Redis URL option 'db' is a database number (0 or more)")
    return RedisOptions(**values), db


def _option(name: str, value: str, *, tls: bool) -> object:
    # Values are not quoted in messages: paths of key files are the operator's business, not the log's.
    if name in _FLOAT_OPTIONS:
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0 < number <= 300:
            raise ConfigurationError(f"the Redis URL option {name!r} is a number of seconds (0 < n <= 300)")
        return number
    if name in _INT_OPTIONS:
        if not value.isdigit() or (name == "max_connections" and int(value) < 1):
            raise ConfigurationError(f"the Redis URL option {name!r} is a whole number")
        return int(value)
    if name in _TLS_OPTIONS:
        if not tls:
            raise ConfigurationError(f"the Redis URL option {name!r} needs TLS: use rediss://")
        if name == "ssl_check_hostname":
            if value.lower() not in _BOOLEANS:
                raise ConfigurationError("the Redis URL option 'ssl_check_hostname' is true or false")
            return _BOOLEANS[value.lower()]
        if name == "ssl_cert_reqs" and value not in ("none", "optional", "required"):
            raise ConfigurationError("the Redis URL option 'ssl_cert_reqs' is none, optional or required")
        return value
    raise ConfigurationError(f"unknown Redis URL option {name!r}")


# --- building the client ----------------------------------------------------------------------------


def _retry(retries: int) -> Retry:
    # Few retries, short backoff: enough to replace a connection the server dropped, while a server
    # that is really down is reported (503) in a few seconds rather than after redis-py's default 10.
    return Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.02), retries)


def _tls_kwargs(target: RedisURL) -> dict[str, Any]:
    o = target.options
    return {
        "ssl_ca_certs": o.ssl_ca_certs,
        "ssl_certfile": o.ssl_certfile,
        "ssl_keyfile": o.ssl_keyfile,
        "ssl_cert_reqs": o.ssl_cert_reqs,
        "ssl_check_hostname": o.ssl_check_hostname,
    }


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's master discovery with the blocking pool's wait for a free connection.

    redis-py's Sentinel pool raises at once when all ``max_connections`` are busy; a burst should
    wait (up to ``pool_timeout``) as it does on a single server.
    """


def _build(target: RedisURL, client_name: str) -> tuple[RedisClient, list[Callable[[], Awaitable[None]]]]:
    """The client and what closes it (the client first, then any sentinel connections)."""
    o = target.options
    common: dict[str, Any] = {
        "username": target.username,
        "password": target.password,
        "socket_timeout": o.socket_timeout,
        "socket_connect_timeout": o.socket_connect_timeout,
        "health_check_interval": o.health_check_interval,
        "client_name": client_name,
    }
    tls = _tls_kwargs(target) if target.tls else {}
    if target.mode == "cluster":
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.hosts],
            max_connections=o.max_connections,
            # More attempts than a single server: between them the cluster client reloads its map of
            # slots to nodes, which is how it follows a failover or a resharding.
            retry=_retry(3),
            ssl=target.tls,
            **common,
            **tls,
        )
        return cluster, [cluster.aclose]
    if target.mode == "sentinel":
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": o.socket_timeout,
            "socket_connect_timeout": o.socket_connect_timeout,
            "retry": _retry(1),
        }
        if target.tls:
            sentinel_kwargs |= {"ssl": True, **tls}
        sentinel = Sentinel(list(target.hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        master = sentinel.master_for(
            target.service_name or "",
            redis_class=Redis,
            connection_pool_class=_BlockingSentinelPool,
            db=target.db,
            max_connections=o.max_connections,
            timeout=o.pool_timeout,
            retry=_retry(1),
            ssl=target.tls,
            **common,
            **tls,
        )
        assert isinstance(master, Redis)  # master_for is untyped; redis_class=Redis makes it one
        return master, [master.aclose, *(s.aclose for s in sentinel.sentinels)]
    connection_class: type[AbstractConnection]
    where: dict[str, Any]
    if target.unix_path is not None:
        connection_class, where = UnixDomainSocketConnection, {"path": target.unix_path}
    else:
        host, port = target.hosts[0]
        connection_class = SSLConnection if target.tls else Connection
        where = {"host": host, "port": port, "socket_keepalive": True, **tls}
    # A blocking pool: a burst beyond max_connections waits (up to pool_timeout) for a free
    # connection instead of failing at once.
    pool = BlockingConnectionPool(
        max_connections=o.max_connections,
        timeout=o.pool_timeout,
        connection_class=connection_class,
        db=target.db,
        retry=_retry(1),
        **common,
        **where,
    )
    client = Redis.from_pool(pool)
    return client, [client.aclose]


class LuaScript:
    """A Lua script sent as EVALSHA, falling back to EVAL when the server does not know it.

    Not redis-py's ``register_script``: its fallback is SCRIPT LOAD, which on a cluster goes to
    every primary, so a burst of calls after a restart (empty script cache) opened one connection
    per call on every node and ran into ``max_connections``. EVAL goes to the key's node only, and
    caches the script there for the next EVALSHA.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()

    async def __call__(self, client: RedisClient, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


class RedisConnection:
    """The Redis client of one process, shared by its Redis stores.

    Stores call Redis only through :meth:`run`, which turns every failure into
    :class:`StoreUnavailable` (the message names the target and the error, never a credential).
    Opening does no I/O: a service starts while Redis is down and :meth:`check` reports it.
    """

    def __init__(self, target: RedisURL, *, client_name: str = DEFAULT_CLIENT_NAME) -> None:
        self.target = target
        self.client_name = client_name
        self._client, self._closers = _build(target, client_name)
        self._closed = False

    @property
    def client(self) -> RedisClient:
        return self._client

    async def run(self, what: str, operation: Callable[[RedisClient], Awaitable[T]]) -> T:
        """Await ``operation(client)``; ``what`` ("claiming a replay key") goes into the error message."""
        if self._closed:
            raise StoreUnavailable(f"the Redis client is closed (while {what})")
        try:
            return await operation(self._client)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis {self.target.describe()} failed while {what}: {self._explain(exc)}") from exc

    async def check(self, *, timeout: float = CHECK_TIMEOUT) -> str:
        """``"ok"`` or a short reason; never raises, returns within ``timeout`` seconds."""
        if self._closed:
            return "closed"
        try:
            async with asyncio.timeout(timeout):
                await self._client.ping()
        except TimeoutError:
            return f"no answer from Redis within {timeout:g} s"
        except Exception as exc:  # a health check reports, it never raises
            return self._explain(exc)
        return "ok"

    async def close(self) -> None:
        """Close every connection; later calls raise :class:`StoreUnavailable`. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for close in self._closers:
            with contextlib.suppress(*_UNAVAILABLE):  # closing a dead connection: nothing to release
                await close()

    def _explain(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        # redis-py does not put credentials in its messages; this keeps it that way if one ever does.
        if self.target.password:
            text = text.replace(self.target.password, "***")
        return text[:300]
