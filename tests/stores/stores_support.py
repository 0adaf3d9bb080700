"""Support for the store contract suite: run a coroutine, the backends, shared records."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from forcegate.core.identity import Identity
from forcegate.stores import AuditEvent, Stores
from helpers import self_signed

T = TypeVar("T")

ORG_15 = "00Dx00000001hxy"
ORG = "00Dx00000001hxyEAA"  # the canonical 18-character form of ORG_15
OTHER_ORG = "00D5e000000AbCdEAK"
THIRD_ORG = "00D300000000001EAA"
NOW = 1_700_000_000.0


def run(awaitable: Awaitable[T]) -> T:
    """Await one store call from a synchronous test (the project has no pytest-asyncio)."""

    async def wait() -> T:
        return await awaitable

    return asyncio.run(wait())


@dataclass(frozen=True)
class Backend:
    """One backend under test. ``open`` returns a new handle on the same data (as another worker would)."""

    name: str
    open: Callable[[], Awaitable[Stores]]


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
