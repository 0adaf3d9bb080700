"""What the registry and the audit log say about activity: the console's overview, its searches, and
the Canvas-to-JWT migration progress (``forcegate orgs migration-status`` and the console show the
same figures, from :meth:`ActivityReports.migration_status`).

Every figure is one aggregate query in the database (:class:`~forcegate.stores.protocols.ConsoleStore`),
so a page costs the same with 100 orgs or 100,000. The overview's aggregates over the audit log
(the 24-hour chart, the refusal reasons, the migration counts) grow with the traffic instead: about
half a second each over a million events on SQLite (benchmarks/bench_console_queries.py), so a
process keeps them for :data:`AGGREGATE_TTL` seconds; the registry's own figures are always read fresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from forcegate.clock import Clock, SystemClock
from forcegate.core.ids import ORG_PREFIX, validate
from forcegate.errors import ConfigurationError, InvalidInput
from forcegate.stores.bundle import Stores
from forcegate.stores.console_rows import (
    ActivityRow,
    AuditFilter,
    MigrationCategory,
    MigrationCounts,
    MigrationOrg,
    OrgSearch,
)
from forcegate.stores.models import AuditEvent, CertificateRecord, Org

__all__ = ["AGGREGATE_TTL", "MIGRATION_CATEGORIES", "ActivityReports", "MigrationStatus", "OrgPage", "Overview"]

MIGRATION_CATEGORIES: tuple[MigrationCategory, ...] = ("canvas-only", "both", "jwt-only")
DAY = 86400
T = TypeVar("T")
#: How long the overview's audit-log aggregates are reused (seconds).
AGGREGATE_TTL = 60.0


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Orgs by how they arrived in the last ``days`` days (allowed, verified decisions only): only
    through Canvas, through both, only through Apex JWTs; ``silent``: registered orgs seen in neither
    way. ``orgs``: up to ``limit`` orgs of each category, by id (who to contact)."""

    days: int
    counts: MigrationCounts
    registered: int
    orgs: dict[MigrationCategory, Sequence[MigrationOrg]]

    @property
    def silent(self) -> int:
        seen = self.counts.canvas_only + self.counts.both + self.counts.jwt_only
        return max(0, self.registered - seen)


@dataclass(frozen=True, slots=True)
class Overview:
    counts: dict[str, int]
    expiring: Sequence[CertificateRecord]
    pending_enrollments: int
    activity: Sequence[ActivityRow]
    activity_since: float
    bucket_seconds: int
    reasons: Sequence[tuple[str, int]]
    migration: MigrationStatus


@dataclass(frozen=True, slots=True)
class OrgPage:
    orgs: Sequence[Org]
    total: int
    #: The id to page on from (None: this is the last page).
    next_after: str | None


class ActivityReports:
    def __init__(self, stores: Stores, *, clock: Clock | None = None, cache_seconds: float = 0.0) -> None:
        self._stores = stores
        self._clock = clock if clock is not None else SystemClock()
        self._cache_seconds = cache_seconds
        self._cached: dict[str, tuple[float, Any]] = {}

    async def _aggregate(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        """``compute()``, reused for ``cache_seconds`` (0: always computed)."""
        now = self._clock.now()
        found = self._cached.get(key)
        if found is not None and found[0] > now:
            return cast(T, found[1])
        value = await compute()
        if self._cache_seconds:
            self._cached[key] = (now + self._cache_seconds, value)
        return value

    async def migration_status(self, *, days: int = 30, limit: int = 100) -> MigrationStatus:
        since = self._clock.now() - days * DAY
        console = self._stores.console
        counts = await console.migration_counts(since)
        orgs: dict[MigrationCategory, Sequence[MigrationOrg]] = {
            category: await console.migration_orgs(since, category, limit=limit) if limit else ()
            for category in MIGRATION_CATEGORIES
        }
        registered = (await console.registry_counts())["orgs"]
        return MigrationStatus(days, counts, registered, orgs)

    async def overview(self, *, expiring_days: int = 30, hours: int = 24, bucket_seconds: int = 3600) -> Overview:
        now = self._clock.now()
        # Whole buckets, the last one holding now: the chart's hours read 09:00, 10:00…
        since = (now // bucket_seconds) * bucket_seconds - (hours * 3600 // bucket_seconds - 1) * bucket_seconds
        console = self._stores.console
        enrollments = await self._stores.enrollments.enrollment_counts()
        pending = sum(enrollments.get(state, 0) for state in ("pending_proof", "approved", "pending_approval"))
        return Overview(
            counts=await console.registry_counts(),
            expiring=await self._stores.trust.expiring_certificates(now + expiring_days * DAY, limit=20),
            pending_enrollments=pending,
            activity=await self._aggregate(f"activity:{since}", lambda: console.activity(since, bucket_seconds)),
            activity_since=since,
            bucket_seconds=bucket_seconds,
            reasons=await self._aggregate(f"reasons:{since}", lambda: console.refusal_reasons(since, limit=8)),
            # With the first Canvas-only orgs: the ones to contact before Canvas can be retired.
            migration=await self._aggregate("migration", lambda: self.migration_status(limit=10)),
        )

    async def search_orgs(self, search: OrgSearch, *, limit: int = 50, after: str | None = None) -> OrgPage:
        console = self._stores.console
        if after is not None:
            after = validate(after, prefix=ORG_PREFIX)
        try:
            # One more than shown: whether a next page exists without a second query.
            found = list(await console.search_orgs(search, limit=limit + 1, after=after))
            total = await console.count_orgs(search)
        except ConfigurationError as exc:  # the store's own check of the search text
            raise InvalidInput(exc.reason) from None
        more = len(found) > limit
        shown = found[:limit]
        return OrgPage(shown, total, shown[-1].org_id if more and shown else None)

    async def audit(self, given: AuditFilter, *, limit: int = 50, before_id: int | None = None) -> Sequence[AuditEvent]:
        if given.org_id:
            given = AuditFilter(
                org_id=validate(given.org_id, prefix=ORG_PREFIX),
                result=given.result,
                credential=given.credential,
                code=given.code,
                since=given.since,
                until=given.until,
            )
        return await self._stores.console.search_audit(given, limit=limit, before_id=before_id)
