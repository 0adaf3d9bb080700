"""What the protocol core needs to know about an org to trust its assertions, and where it asks.

The service builds :class:`OrgTrust` from its registry (org record + active certificates) and
answers :class:`TrustDirectory` lookups from a cache; the core never sees a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from forcegate.core.trusted_key import TrustedKey

__all__ = ["OrgTrust", "TrustDirectory"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgTrust:
    """One registered org as the verifier sees it.

    ``issuers``: accepted ``iss`` values (the org id by default; a consumer key or any other issuer
    listed here — a Named Credential's static ``iss`` — lets assertions with it name this org in
    ``org_id``). ``subjects``: ``None`` accepts
    any ``sub``. ``scopes``: what tokens for this org may carry. ``keys``: the org's active
    certificates. ``algorithms``: the JWS algorithms its assertions may use (RS256 by default, what
    ``Auth.JWS`` signs with). ``max_assertion_lifetime`` / ``token_lifetime``: per-org overrides,
    ``None`` keeps the service default.
    """

    org_id: str
    enabled: bool
    issuers: frozenset[str]
    subjects: frozenset[str] | None
    scopes: frozenset[str]
    keys: tuple[TrustedKey, ...]
    algorithms: frozenset[str] = frozenset({"RS256"})
    #: The Connected Apps (consumer keys) whose Canvas signed requests may open sessions for the org.
    apps: frozenset[str] = frozenset()
    max_assertion_lifetime: int | None = None
    token_lifetime: int | None = None


class TrustDirectory(Protocol):
    """Registry lookups the JWT paths need. Implementations cache; both calls are on the hot path."""

    async def org(self, org_id: str) -> OrgTrust | None:
        """The org registered under this 18-character id, or None."""
        ...

    async def is_consumer_key(self, issuer: str) -> bool:
        """True when ``issuer`` is the consumer key of a registered Connected App."""
        ...
