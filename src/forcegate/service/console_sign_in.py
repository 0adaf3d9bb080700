"""Who may use the admin console: named operators (Argon2id passwords) or the admin token, and their sessions.

The console (:mod:`forcegate.server.console`) is an adapter: it reads the sign-in form and the
session cookie and calls this module, which holds the policy:

* **Passwords** are hashed with Argon2id (RFC 9106's second recommended profile: t=3, m=64 MiB,
  p=4; argon2-cffi's defaults), verified against a dummy hash for an unknown name so both cost the
  same, and rehashed when the parameters change.
* **The admin token** is checked by the same constant-time check as the admin API's
  (:meth:`ServiceKeyStore.check_admin_token`).
* **Slow-down and lockout**, per client address and per operator name, counted in the database
  (every worker and host, and a restart, see the same counts): from the 3rd failure in 15 minutes an
  answer is delayed (0.25 s, doubling, at most 4 s); the 5th failure of a name, or the 20th of an
  address, locks it for 15 minutes, during which even the right password is refused unchecked.
  A successful sign-in clears the name's counter (not the address's: one good account must not
  reset an address guessing others).
* **Sessions** are server-side: the cookie holds 32 random bytes, the database their SHA-256; a
  session lasts 8 hours, and signing out deletes it.
* Every sign-in, refused or not, and every sign-out is audited with the operator's name.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forcegate._extras import require_extra
from forcegate.clock import Clock
from forcegate.errors import AuthenticationRequired, ConfigurationError, InvalidInput, RateLimited
from forcegate.stores.bundle import Stores
from forcegate.stores.console_rows import ConsoleSession, Operator, check_operator_name
from forcegate.stores.models import AuditEvent

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = [
    "ADMIN_TOKEN_OPERATOR",
    "SESSION_LIFETIME",
    "ConsoleSignIn",
    "SignInLimits",
    "SignedIn",
    "csrf_token",
    "hash_password",
    "operator_credential",
]

SESSION_LIFETIME = 8 * 3600
#: The name an admin-token sign-in acts under in the audit log.
ADMIN_TOKEN_OPERATOR = "admin-token"  # noqa: S105 - a name, not a secret
SIGN_IN_ENDPOINT = "/console/sign-in"
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_CSRF_CONTEXT = b"forcegate console csrf v1"


@dataclass(frozen=True, slots=True)
class SignInLimits:
    """When failed sign-ins slow down and lock (see the module docstring)."""

    window: float = 900.0
    slow_after: int = 2
    first_delay: float = 0.25
    max_delay: float = 4.0
    lock_operator_after: int = 5
    lock_address_after: int = 20
    lock_seconds: float = 900.0


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: ``session_id`` goes in the cookie (never stored), ``session`` is what the database holds."""

    session_id: str
    session: ConsoleSession


def operator_credential(operator: str) -> str:
    """The audit log's credential for an operator's console actions: who acted, by name."""
    return f"operator:{operator}"


def csrf_token(session_id: str) -> str:
    """The session's CSRF token: an HMAC of the session id, so it is per session, changes with it, and
    needs no storage; a page without the cookie's value cannot compute it."""
    return hmac.new(session_id.encode("utf-8"), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def _hasher() -> PasswordHasher:
    require_extra("the console's operator passwords", "server", "argon2")
    from argon2 import PasswordHasher, Type

    # RFC 9106 §4, second recommended option (argon2-cffi's defaults, named here so they cannot drift).
    return PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16, type=Type.ID)


def hash_password(password: str) -> str:
    """An Argon2id PHC string for ``password`` (checked: 12 to 1024 characters)."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return _hasher().hash(password)


def _session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class ConsoleSignIn:
    """The console's sign-in policy over the stores. ``sleep``: how a slow-down waits (tests pass a recorder)."""

    def __init__(
        self,
        stores: Stores,
        *,
        clock: Clock,
        limits: SignInLimits | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._stores = stores
        self._console = stores.console
        self._clock = clock
        self.limits = limits if limits is not None else SignInLimits()
        self._sleep = sleep
        self._dummy_hash: str | None = None

    # --- operators ------------------------------------------------------------------------------------

    async def create_operator(self, name: str, password: str) -> Operator:
        try:
            checked = check_operator_name(name)
        except ConfigurationError as exc:
            raise InvalidInput(exc.reason) from None
        if checked == ADMIN_TOKEN_OPERATOR:
            raise InvalidInput(f"{ADMIN_TOKEN_OPERATOR!r} is how admin-token sign-ins are named: choose another name")
        now = self._clock.now()
        operator = Operator(name=checked, password_hash=hash_password(password), created_at=now, updated_at=now)
        await self._console.add_operator(operator)
        return operator

    async def set_password(self, name: str, password: str) -> None:
        await self._console.set_operator_password(name, hash_password(password), now=self._clock.now())

    # --- sign-in --------------------------------------------------------------------------------------

    async def sign_in_password(self, name: str, password: str, *, client: str | None) -> SignedIn:
        """A session for operator ``name``, or :class:`AuthenticationRequired` / :class:`RateLimited` (audited)."""
        name = name.strip()[:64]
        await self._refuse_if_locked(name, client)
        operator = await self._console.get_operator(name) if name else None
        if not await self._password_matches(operator, password):
            await self._failed(name, client, "wrong name or password")
        assert operator is not None
        return await self._open(operator.name, "password", client)

    async def sign_in_token(self, token: str, *, client: str | None) -> SignedIn:
        """A session for whoever holds the admin token (the admin API's constant-time check)."""
        await self._refuse_if_locked(ADMIN_TOKEN_OPERATOR, client)
        if not token or not await self._stores.keys.check_admin_token(token):
            await self._failed(ADMIN_TOKEN_OPERATOR, client, "the admin token does not match")
        return await self._open(ADMIN_TOKEN_OPERATOR, "admin-token", client)

    async def session(self, session_id: str | None) -> ConsoleSession:
        """The live session the cookie names, or :class:`AuthenticationRequired`."""
        if not session_id or len(session_id) > 128:
            raise AuthenticationRequired("not signed in to the console")
        found = await self._console.get_session(_session_digest(session_id), now=self._clock.now())
        if found is None:
            raise AuthenticationRequired("the console session ended or expired")
        return found

    async def sign_out(self, session: ConsoleSession) -> None:
        await self._console.delete_session(session.id_hash)
        await self._audit("allowed", "console_sign_out", f"{session.operator} signed out", session.operator, None)

    # --- the policy's steps ---------------------------------------------------------------------------

    async def _password_matches(self, operator: Operator | None, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        hasher = _hasher()
        if operator is None:
            # The same work as for a real operator: a quick "no" would tell which names exist.
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(hasher.hash, secrets.token_urlsafe(16))
            stored, known = self._dummy_hash, False
        else:
            stored, known = operator.password_hash, True
        try:
            # Tens of milliseconds of memory-hard work: in a thread, so the event loop keeps serving.
            await asyncio.to_thread(hasher.verify, stored, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return False
        if known and operator is not None and hasher.check_needs_rehash(stored):
            rehashed = await asyncio.to_thread(hasher.hash, password)
            await self._console.set_operator_password(operator.name, rehashed, now=self._clock.now())
        return known

    async def _refuse_if_locked(self, name: str, client: str | None) -> None:
        now = self._clock.now()
        for key in self._keys(name, client):
            state = await self._console.failures(key)
            if state is not None and state.locked_until is not None and state.locked_until > now:
                wait = max(1, math.ceil(state.locked_until - now))
                what = "this operator name" if key.startswith("operator:") else "this address"
                refusal = RateLimited(
                    f"sign-in is locked for {what} after repeated failures: try again in {math.ceil(wait / 60)} min",
                    retry_after=wait,
                    limit="console_sign_in",
                )
                await self._audit("denied", refusal.code, refusal.reason, name or None, client)
                raise refusal

    async def _failed(self, name: str, client: str | None, why: str) -> None:
        """Count the failure for the name and the address, lock past the bounds, slow down, audit, raise."""
        limits, now = self.limits, self._clock.now()
        worst = 0
        for key, bound in zip(
            self._keys(name, client), (limits.lock_operator_after, limits.lock_address_after), strict=False
        ):
            counted = await self._console.count_failure(key, now=now, window=limits.window)
            worst = max(worst, counted.failures)
            if counted.failures >= bound:
                await self._console.lock(key, now + limits.lock_seconds)
        refusal = AuthenticationRequired(why)
        await self._audit("denied", refusal.code, f"console sign-in refused: {why}", name or None, client)
        if worst > limits.slow_after:
            await self._sleep(min(limits.max_delay, limits.first_delay * 2 ** (worst - limits.slow_after - 1)))
        raise refusal

    @staticmethod
    def _keys(name: str, client: str | None) -> list[str]:
        # The operator's key first (its bound is the lower one), then the address's.
        return [f"operator:{name}", f"address:{client or 'unknown'}"]

    async def _open(self, operator: str, credential: str, client: str | None) -> SignedIn:
        now = self._clock.now()
        session_id = secrets.token_urlsafe(32)
        session = ConsoleSession(
            id_hash=_session_digest(session_id),
            operator=operator,
            credential=credential,
            client=client,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
        await self._console.create_session(session)
        await self._console.clear_failures(f"operator:{operator}")
        await self._audit(
            "allowed", "console_sign_in", f"{operator} signed in to the console ({credential})", operator, client
        )
        return SignedIn(session_id, session)

    async def _audit(self, result: str, code: str, detail: str, operator: str | None, client: str | None) -> None:
        await self._stores.audit.append(
            [
                AuditEvent(
                    at=self._clock.now(),
                    endpoint=SIGN_IN_ENDPOINT,
                    credential=operator_credential(operator or "(none named)"),
                    result="allowed" if result == "allowed" else "denied",
                    code=code,
                    detail=detail[:500],
                    subject=operator,
                    client=client,
                    # A refused sign-in names an operator only as typed: nothing about it is proven.
                    verified=result == "allowed",
                )
            ]
        )
