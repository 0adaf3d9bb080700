"""Support for the assertion tests: the org and names they use, an in-memory directory and replay store.

The fixtures built from these (an org with one certificate, a verifier, Apex-style minting) are in conftest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from forcegate.core import ids
from forcegate.core.assertion import AssertionVerifier, VerifiedAssertion
from forcegate.core.trust import OrgTrust

NOW = 1_750_000_000  # 2025-06-15, inside the certificate's validity
ORG = ids.to18("00D5g000004ABCD")
OTHER_ORG = ids.to18("00D5g000009WXYZ")
USER = ids.to18("0055g00000AbCdE")
RECORD = ids.to18("0015g00000XyZab")
CONSUMER_KEY = "3MVG9" + "A" * 80
USERNAME = "integration.user@acme.example"
AUD = "https://svc.example.com/oauth2/token"
CERT = "forcegate_cert"


class FakeDirectory:
    """The registry as the verifier sees it: a dict of orgs and a set of consumer keys."""

    def __init__(self, orgs: Iterable[OrgTrust], consumer_keys: Iterable[str] = ()) -> None:
        self.orgs = {org.org_id: org for org in orgs}
        self.consumer_keys = set(consumer_keys)
        self.lookups: list[str] = []

    async def org(self, org_id: str) -> OrgTrust | None:
        self.lookups.append(org_id)
        return self.orgs.get(org_id)

    async def is_consumer_key(self, issuer: str) -> bool:
        self.lookups.append(issuer)
        return issuer in self.consumer_keys


class MemoryReplay:
    def __init__(self) -> None:
        self.claimed: dict[str, float] = {}

    async def claim(self, key: str, expires_at: float) -> bool:
        if key in self.claimed:
            return False
        self.claimed[key] = expires_at
        return True


def run(
    verifier: AssertionVerifier,
    token: str | bytes,
    replay: MemoryReplay | None = None,
    *,
    scope: str | None = None,
    source: Any = "jwt-bearer",
) -> VerifiedAssertion:
    return asyncio.run(verifier.verify(token, replay=replay or MemoryReplay(), requested_scope=scope, source=source))
