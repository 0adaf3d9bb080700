"""The unified identity: who is calling, whichever way Salesforce proved it.

Application code reads one :class:`Identity` whether the call came from a Canvas signed request
(``source="canvas"``), an access token obtained with the JWT-bearer grant (``"jwt-bearer"``), or an
Apex-signed JWT sent directly as the bearer credential (``"jwt"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

__all__ = ["Identity", "Source"]

Source = Literal["canvas", "jwt-bearer", "jwt"]
_SOURCES: frozenset[str] = frozenset(get_args(Source))


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """A Salesforce org (and usually a user in it) that the service has verified.

    ``org_id``, ``user_id`` and ``record_id`` are 18-character Salesforce ids. ``parameters`` are the
    custom parameters (Canvas ``environment.parameters`` or the JWT ``params`` claim). ``issuer`` is
    what vouched for the identity: the assertion's ``iss`` or the Canvas app's consumer key.
    ``expires_at`` is when the credential that carried it stops being valid.
    """

    source: Source
    org_id: str
    user_id: str | None = None
    username: str | None = None
    instance_url: str | None = None
    record_id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    scopes: frozenset[str] = frozenset()
    issuer: str = ""
    expires_at: float | None = None

    def __post_init__(self) -> None:
        # Typed as the Literal, but callers may pass any string at run time.
        if str(self.source) not in _SOURCES:
            raise ValueError(f"unknown identity source {self.source!r}")
        if not isinstance(self.parameters, MappingProxyType):
            object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        # Callers may pass any iterable of scopes; frozenset() of a frozenset returns it unchanged.
        object.__setattr__(self, "scopes", frozenset(self.scopes))

    def has_scopes(self, required: Iterable[str]) -> bool:
        """True when every scope in ``required`` was granted."""
        return self.scopes.issuperset(required)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape ``GET /api/v1/me`` returns (scopes sorted, so output is stable)."""
        return {
            "source": self.source,
            "org_id": self.org_id,
            "user_id": self.user_id,
            "username": self.username,
            "instance_url": self.instance_url,
            "record_id": self.record_id,
            "parameters": dict(self.parameters),
            "scopes": sorted(self.scopes),
            "issuer": self.issuer,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Identity:
        """Inverse of :meth:`to_dict` (for stored sessions)."""
        return cls(
            source=data["source"],
            org_id=data["org_id"],
            user_id=data.get("user_id"),
            username=data.get("username"),
            instance_url=data.get("instance_url"),
            record_id=data.get("record_id"),
            parameters=dict(data.get("parameters") or {}),
            scopes=frozenset(data.get("scopes") or ()),
            issuer=data.get("issuer") or "",
            expires_at=data.get("expires_at"),
        )
