"""Per-request state on Redis, shared by every worker and host: sessions, the failure limits' counters,
and a mirror of the revocations.

With ``FORCEGATE_REDIS_URL`` set beside a PostgreSQL database, Redis holds the Canvas sessions and the
counters every worker hits on a refused attempt; PostgreSQL keeps the issued-token records, the
revocations (mirrored here for workers of an earlier version, decision 0032), the single-use claims
and the token endpoint's rate counters (decided with the grant in one statement, decision 0035) and
the audit log. :class:`RedisReplayCache` remains a claim store on Redis (the claims of earlier
versions); :func:`~forcegate.stores.scale_out.with_redis` no longer uses it. Every key is
``prefix + kind + ":" + id`` (kinds ``replay``, ``revoked``, ``session``, ``rate``), so deployments and
test runs can share one Redis; an id longer than 200 characters (or starting with ``#``) is replaced by
``#`` and its SHA-256. Every operation touches ONE key, so all of it works on Redis Cluster.

Every write is safe to resend: redis-py resends a command after a connection error, and the first
send may have run. Claims carry a per-call nonce (a resent claim finds its own nonce and wins);
revocations only ever extend; a session write that finds its own value (nonce included) succeeds.
The one exception is a rate-counter hit (INCR): a resent hit may count twice, which errs towards
refusing, and only after a connection error.

Expired entries vanish by Redis TTL, so the ``purge`` methods have nothing to do and return 0
(:meth:`RedisTokenStore.purge` still purges the issued-token records it delegates to).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from forcegate.core.identity import Identity
from forcegate.errors import AlreadyExists, ConfigurationError, StoreUnavailable
from forcegate.settings import MAX_LEEWAY
from forcegate.stores.models import IssuedCheck, IssuedToken, Session
from forcegate.stores.protocols import TokenStore
from forcegate.stores.redis_client import (
    DEFAULT_CLIENT_NAME,
    LuaScript,
    RedisClient,
    RedisConnection,
    parse_redis_url,
)
from forcegate.stores.values import REVOCATION_MARGIN, check_rate_hit

__all__ = [
    "RATE_MARGIN",
    "REVOCATION_MARGIN",
    "RedisParts",
    "RedisRateCounter",
    "RedisReplayCache",
    "RedisSessionStore",
    "RedisTokenStore",
    "RevocationCopy",
    "open_redis",
    "redis_key",
]

log = logging.getLogger("forcegate.stores")

#: A rate counter outlives its window's end (by the caller's clock) by this much, so a worker whose
#: clock lags another's by up to the largest leeway still finds the window's count.
RATE_MARGIN = float(MAX_LEEWAY)
# Redis refuses absurd TTLs; no claim, revocation or session needs more than this.
_MAX_TTL_MS = 10 * 366 * 86_400_000
_MAX_ID_LENGTH = 200

# A claim is stored as "<expires_at> <nonce>". ONE script decides, so two callers racing on a key
# cannot both win; a caller whose nonce is already there is a resend of a claim that ran, and wins.
# A value without a separator is not ours to interpret: refuse (fail closed).
_CLAIM = """
local function claim(key, until_, now, nonce, ttl)
  local current = redis.call('GET', key)
  if current then
    local sep = string.find(current, ' ', 1, true)
    if not sep then return 0 end
    if string.sub(current, sep + 1) == nonce then return 1 end
    local held_until = tonumber(string.sub(current, 1, sep - 1))
    if held_until == nil or held_until >= tonumber(now) then return 0 end
  end
  redis.call('SET', key, until_ .. ' ' .. nonce, 'PX', ttl)
  return 1
end
return claim(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
"""

# Compare-and-delete: only the claim this nonce made is given back.
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ' ', 1, true)
  if sep and string.sub(current, sep + 1) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
end
return 0
"""

# A revocation only ever extends: the later expiry and the longer TTL win. The stored string is
# kept as given (Lua's tostring would round the number).
_REVOKE = """
local current = redis.call('GET', KEYS[1])
local value = ARGV[1]
local held = current and tonumber(current)
if held and held > tonumber(ARGV[1]) then value = current end
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then ttl = left end
redis.call('SET', KEYS[1], value, 'PX', ttl)
return 1
"""

# SET NX that also succeeds when the key already holds exactly this value: the value carries the
# call's nonce, so only a resend of this very call matches, never a second create() of the same id.
_CREATE_SESSION = """
local current = redis.call('GET', KEYS[1])
if current then
  if current == ARGV[1] then return 1 end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


# INCR and the TTL in ONE script: a counter never exists without its expiry (a crash between two
# commands would leave one that never expires). Only a counter without a TTL gets one, so the first
# hit of the window sets it and later hits (from workers with other clocks) leave it alone.
_HIT = """
local function hit(key, ttl)
  local hits = redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ttl) end
  return hits
end
return hit(KEYS[1], ARGV[1])
"""

# A counter that expired is not brought back (DECR would create it at -1, without a TTL).
_REFUND = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


def redis_key(prefix: str, kind: str, ident: str) -> str:
    """``prefix + kind + ":" + ident``, with long (or ``#``-leading) ids replaced by their hash."""
    if len(ident) > _MAX_ID_LENGTH or ident.startswith("#"):
        ident = "#" + hashlib.sha256(ident.encode("utf-8")).hexdigest()
    return f"{prefix}{kind}:{ident}"


def _ttl_ms(seconds: float) -> int:
    return max(1000, min(_MAX_TTL_MS, math.ceil(seconds * 1000)))


def _finite(value: float, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{what} is a finite number of seconds")
    return repr(float(value))  # shortest exact form: Lua reads back the same double


def _new_nonce() -> str:
    return secrets.token_hex(16)


class RedisReplayCache:
    """:class:`~forcegate.stores.protocols.ReplayCache` on Redis: one script call per claim."""

    def __init__(self, connection: RedisConnection, *, prefix: str) -> None:
        self._conn = connection
        self._prefix = prefix
        self._claim = LuaScript(_CLAIM)
        self._release = LuaScript(_RELEASE)

    async def claim(self, key: str, expires_at: float, *, now: float | None = None) -> bool:
        return await self.claim_as(_new_nonce(), key, expires_at, now=now)

    async def claim_as(self, nonce: str, key: str, expires_at: float, *, now: float | None = None) -> bool:
        """Claim ``key`` for the attempt ``nonce``; a key already holding ``nonce`` counts as won.

        ``now`` (the caller's clock) decides whether a held claim has lapsed, and the Redis TTL is
        ``expires_at - now`` (at least 1 s), so Redis forgets the claim by itself.
        """
        if not isinstance(key, str) or not key:
            raise ConfigurationError("a replay key is a non-empty string")
        if not nonce or " " in nonce:
            raise ConfigurationError("a claim nonce is a non-empty string without spaces")
        until = _finite(expires_at, "a claim's expiry")
        at = time.time() if now is None else now
        name = redis_key(self._prefix, "replay", key)
        args: list[str | int] = [until, _finite(at, "now"), nonce, _ttl_ms(expires_at - at)]
        won = await self._conn.run("claiming a replay key", lambda c: self._claim(c, [name], args))
        return bool(won == 1)

    async def release(self, key: str, nonce: str) -> bool:
        """Give back the claim ``nonce`` made (compare-and-delete); False if it is not held by ``nonce``."""
        name = redis_key(self._prefix, "replay", key)
        released = await self._conn.run("releasing a replay claim", lambda c: self._release(c, [name], [nonce]))
        return bool(released == 1)

    async def purge(self, now: float) -> int:
        """Always 0: every claim carries a Redis TTL and expires by itself."""
        return 0


class RedisRateCounter:
    """:class:`~forcegate.stores.protocols.RateCounter` on Redis: a key per (counter, window), a script call per hit."""

    def __init__(self, connection: RedisConnection, *, prefix: str) -> None:
        self._conn = connection
        self._prefix = prefix
        self._hit = LuaScript(_HIT)
        self._refund = LuaScript(_REFUND)

    async def hit(self, key: str, window_start: float, window_seconds: int, *, now: float) -> int:
        """The TTL is the rest of the window (``window_start + window_seconds - now``) plus
        :data:`RATE_MARGIN`, at least 1 s: Redis forgets the counter by itself."""
        check_rate_hit(key, window_start, window_seconds)
        at = float(_finite(now, "now"))
        name, ttl = self._name(key, window_start), _ttl_ms(window_start + window_seconds - at + RATE_MARGIN)
        hits = await self._conn.run("counting a rate hit", lambda c: self._hit(c, [name], [ttl]))
        return int(hits)

    async def refund(self, key: str, window_start: float) -> None:
        name = self._name(key, window_start)
        await self._conn.run("refunding a rate hit", lambda c: self._refund(c, [name], []))

    async def purge(self, now: float) -> int:
        """Always 0: every counter carries a Redis TTL and expires by itself."""
        return 0

    def _name(self, key: str, window_start: float) -> str:
        return redis_key(self._prefix, "rate", f"{key}@{_finite(window_start, 'a window start')}")


class RedisTokenStore:
    """Issued-token records AND revocations in ``records`` (the PostgreSQL store), each revocation
    mirrored here for workers of an earlier forcegate during a rollout (decision 0032).

    An API call's one lookup then reads the record MAC, the revocation and the registry generation
    in one PostgreSQL round trip (decisions 0025, 0031) instead of a Redis call beside the generation
    read. Earlier versions kept revocations on Redis only: they still read (and write) them here, so
    a revocation made by an upgraded worker is written to both, and one made by an earlier worker
    during the rollout reaches PostgreSQL with :meth:`copy_revocations` (``forcegate db
    copy-revocations``, run once the rollout is over).
    """

    def __init__(self, records: TokenStore, connection: RedisConnection, *, prefix: str) -> None:
        self._records = records
        self._conn = connection
        self._prefix = prefix
        self._revoke = LuaScript(_REVOKE)

    async def record_issued(self, token: IssuedToken) -> None:
        await self._records.record_issued(token)

    async def get_issued(self, jti: str) -> IssuedToken | None:
        return await self._records.get_issued(jti)

    async def revoke(self, jti: str, expires_at: float) -> None:
        """Revoke until ``expires_at`` in PostgreSQL, then mirror it on Redis; revoking again keeps the
        later expiry. If the mirror fails the call fails (and may be repeated: both writes only extend).

        The mirror's TTL runs on the wall clock (a verifier checks expiry against it): until the
        expiry plus :data:`REVOCATION_MARGIN`, so a token with an expiry already past still reads as
        revoked for that margin, as it does in PostgreSQL until the purge (which keeps the margin).
        """
        until = _finite(expires_at, "a revocation's expiry")
        await self._records.revoke(jti, expires_at)
        ttl = _ttl_ms(max(expires_at - time.time(), 0.0) + REVOCATION_MARGIN)
        name = redis_key(self._prefix, "revoked", jti)
        await self._conn.run("revoking a token", lambda c: self._revoke(c, [name], [until, ttl]))

    async def is_revoked(self, jti: str) -> bool:
        return await self._records.is_revoked(jti)

    async def check_issued(self, jti: str) -> IssuedCheck:
        return await self._records.check_issued(jti)

    async def purge(self, now: float) -> int:
        """Purges the records and revocations in PostgreSQL; the mirror expires by Redis TTL."""
        return await self._records.purge(now)

    async def copy_revocations(self) -> RevocationCopy:
        """Copy into PostgreSQL every revocation found on Redis only: those an earlier forcegate made
        (it wrote Redis alone). Idempotent (a revocation only ever extends); ids too long for a key
        were stored hashed and cannot be recovered (counted as ``unreadable``; forcegate's own
        ``jti`` has 34 characters)."""
        start = redis_key(self._prefix, "revoked", "")
        pattern = _GLOB_SPECIAL.sub(r"\\\g<0>", start) + "*"  # the prefix taken literally
        marker = len(start)
        copied = unreadable = 0
        names: list[str] = await self._conn.run(
            "listing revocations", lambda c: _collect(c.scan_iter(match=pattern, count=1000))
        )
        for name in names:
            jti = name[marker:]
            if jti.startswith("#"):
                unreadable += 1
                continue
            value = await self._conn.run("reading a revocation", functools.partial(_get, name))
            if value is not None:  # else: expired meanwhile
                await self._records.revoke(jti, float(value))
                copied += 1
        return RevocationCopy(copied, unreadable)


class RevocationCopy(NamedTuple):
    """What :meth:`RedisTokenStore.copy_revocations` did: revocations copied, and ids it could not read."""

    copied: int
    unreadable: int


#: What SCAN's MATCH reads as a pattern: escaped in a prefix.
_GLOB_SPECIAL = re.compile(r"[\\*?\[\]]")


async def _get(name: str, client: RedisClient) -> Any:
    return await client.get(name)


async def _collect(names: AsyncIterator[Any]) -> list[str]:
    return [name.decode() if isinstance(name, bytes) else str(name) async for name in names]


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("app_secret_id is not an integer")
    return value


class RedisSessionStore:
    """:class:`~forcegate.stores.protocols.SessionStore` on Redis: one JSON value per session."""

    def __init__(self, connection: RedisConnection, *, prefix: str) -> None:
        self._conn = connection
        self._prefix = prefix
        self._create = LuaScript(_CREATE_SESSION)

    async def create(self, session: Session) -> None:
        """Store ``session``; an id already in use is :class:`AlreadyExists`.

        The TTL is the session's lifetime (``expires_at - created_at``, the caller's clock); reads
        check ``expires_at`` against the caller's ``now`` anyway.
        """
        value = json.dumps(
            {
                "nonce": _new_nonce(),
                "identity": session.identity.to_dict(),
                "created_at": session.created_at,
                "expires_at": session.expires_at,
                "app_secret_id": session.app_secret_id,
            },
            separators=(",", ":"),
        )
        ttl = _ttl_ms(session.expires_at - session.created_at)
        name = redis_key(self._prefix, "session", session.id_hash)
        created = await self._conn.run("creating a session", lambda c: self._create(c, [name], [value, ttl]))
        if created != 1:
            raise AlreadyExists("a session with this id already exists")

    async def get(self, id_hash: str, *, now: float | None = None) -> Session | None:
        name = redis_key(self._prefix, "session", id_hash)
        raw = await self._conn.run("reading a session", lambda c: c.get(name))
        if raw is None:
            return None
        try:
            data: dict[str, Any] = json.loads(raw)
            expires_at = float(data["expires_at"])
            stored = Session(
                id_hash=id_hash,
                identity=Identity.from_dict(data["identity"]),
                created_at=float(data["created_at"]),
                expires_at=expires_at,
                app_secret_id=_optional_int(data.get("app_secret_id")),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreUnavailable(f"a session stored in Redis cannot be read ({type(exc).__name__})") from exc
        return stored if expires_at > (time.time() if now is None else now) else None

    async def delete(self, id_hash: str) -> None:
        """Logging out twice is not an error."""
        name = redis_key(self._prefix, "session", id_hash)
        await self._conn.run("deleting a session", lambda c: c.delete(name))

    async def purge(self, now: float) -> int:
        """Always 0: sessions carry a Redis TTL and expire by themselves."""
        return 0


class RedisParts:
    """The Redis half of the scale-out backend: one client, the stores built on it, health, close."""

    def __init__(self, connection: RedisConnection, *, prefix: str) -> None:
        self.connection = connection
        self.prefix = prefix
        self.replay = RedisReplayCache(connection, prefix=prefix)
        self.sessions = RedisSessionStore(connection, prefix=prefix)
        self.rates = RedisRateCounter(connection, prefix=prefix)

    @property
    def client(self) -> RedisClient:
        return self.connection.client

    def tokens(self, records: TokenStore) -> RedisTokenStore:
        """Issued-token records and revocations in ``records``, revocations mirrored here (0032)."""
        return RedisTokenStore(records, self.connection, prefix=self.prefix)

    async def check(self) -> str:
        """``"ok"`` or a short reason; never raises; answers within ~2 s when Redis is down."""
        return await self.connection.check()

    async def close(self) -> None:
        await self.connection.close()


async def open_redis(url: str, *, prefix: str = "forcegate:", client_name: str = DEFAULT_CLIENT_NAME) -> RedisParts:
    """Build the Redis stores for ``url`` (see :mod:`forcegate.stores.redis_client` for the forms).

    No I/O happens here: the service starts while Redis is down, and :meth:`RedisParts.check`
    (``/readyz``) says so. A malformed URL or prefix is :class:`ConfigurationError`.
    """
    if not prefix or any(c.isspace() for c in prefix):
        raise ConfigurationError("a Redis key prefix is a non-empty string without spaces")
    if not client_name or any(c.isspace() for c in client_name):
        raise ConfigurationError("a Redis client name is a non-empty string without spaces")
    return RedisParts(RedisConnection(parse_redis_url(url), client_name=client_name), prefix=prefix)
