"""The activity reports: the overview's figures, migration status, org pages, and the aggregate cache."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from forcegate.clock import FixedClock
from forcegate.registry.activity import ActivityReports
from forcegate.stores import Org
from forcegate.stores.console_rows import OrgSearch
from forcegate.stores.encryption import SecretBox
from forcegate.stores.models import AuditEvent
from forcegate.stores.sqlite import open_sqlite_stores

A, B = "00D5g000004ABCDEA4", "00D5g000004XYZWEA4"


def _event(at: float, org_id: str, credential: str, result: str = "allowed") -> AuditEvent:
    return AuditEvent(
        at=at,
        endpoint="/x",
        credential=credential,
        result="denied" if result == "denied" else "allowed",
        code="ok" if result == "allowed" else "token_expired",
        org_id=org_id,
    )


def test_overview_buckets_whole_hours_and_caches_the_audit_aggregates(tmp_path: Path) -> None:
    clock = FixedClock(float(int(time.time()) // 3600 * 3600 + 1800))  # half past an hour

    async def scenario() -> None:
        stores = await open_sqlite_stores(str(tmp_path / "f.db"), box=SecretBox(os.urandom(32)))
        try:
            await stores.trust.add_org(Org(org_id=A))
            now = clock.now()
            await stores.audit.append([_event(now, A, "canvas"), _event(now - 3600, A, "jwt-bearer", "denied")])
            reports = ActivityReports(stores, clock=clock, cache_seconds=60)
            first = await reports.overview()
            assert first.activity_since == now - 1800 - 23 * 3600  # 24 whole hours, the last holding now
            assert {(row.bucket, row.credential, row.result) for row in first.activity} == {
                (23, "canvas", "allowed"),
                (22, "jwt-bearer", "denied"),
            }
            assert list(first.reasons) == [("token_expired", 1)]
            assert first.migration.counts.canvas_only == 1
            await stores.audit.append([_event(now, B, "jwt")])
            await stores.trust.add_org(Org(org_id=B))
            cached = await reports.overview()
            assert cached.activity == first.activity  # within the minute: the aggregates are reused
            assert cached.counts["orgs"] == 2  # the registry's figures are read fresh
            clock.advance(61)
            fresh = await reports.overview()
            assert fresh.migration.counts.jwt_only == 1
        finally:
            await stores.close()

    asyncio.run(scenario())


def test_migration_status_and_org_pages(tmp_path: Path) -> None:
    clock = FixedClock(float(int(time.time())))

    async def scenario() -> None:
        stores = await open_sqlite_stores(str(tmp_path / "f.db"), box=SecretBox(os.urandom(32)))
        try:
            for org_id in (A, B):
                await stores.trust.add_org(Org(org_id=org_id, name="Acme" if org_id == A else "Zenith"))
            await stores.audit.append([_event(clock.now() - 40 * 86400, A, "canvas")])  # outside 30 days
            reports = ActivityReports(stores, clock=clock)
            status = await reports.migration_status()
            assert (status.counts.canvas_only, status.registered, status.silent) == (0, 2, 2)
            assert (await reports.migration_status(days=60)).counts.canvas_only == 1
            page = await reports.search_orgs(OrgSearch(), limit=1)
            assert ([org.org_id for org in page.orgs], page.total, page.next_after) == ([A], 2, A)
            last = await reports.search_orgs(OrgSearch(), limit=1, after=page.next_after)
            assert ([org.org_id for org in last.orgs], last.next_after) == ([B], None)
        finally:
            await stores.close()

    asyncio.run(scenario())
