"""The notification outbox on PostgreSQL (:class:`~forcegate.stores.protocols.NotificationStore`).

The same behaviour as :mod:`forcegate.stores.sqlite_notifications`, for workers on several hosts. A
claim is one ``UPDATE`` over the due rows selected ``FOR UPDATE SKIP LOCKED``: concurrent claimers
each lock different rows (never wait for, nor take, another's), so no row is sent by two workers at
once. Not part of the trust registry: no write bumps the registry generation.
"""

from __future__ import annotations

from collections.abc import Sequence

from forcegate.errors import NotFound, RegistryError
from forcegate.stores.enrollment_rows import ENROLLMENT_COLUMNS, enrollment_from_row
from forcegate.stores.models import CertificateRecord, Enrollment
from forcegate.stores.notification_rows import (
    NOTIFICATION_COLUMN_COUNT,
    NOTIFICATION_COLUMNS,
    Notification,
    NotificationState,
    check_claim,
    check_error,
    check_notification,
    check_notification_states,
    not_retryable,
    notification_from_row,
)
from forcegate.stores.postgres_db import PostgresDatabase
from forcegate.stores.records import CERT_COLUMNS, certificate_from_row

__all__ = ["PostgresNotificationStore"]

_MAX_PAGE = 1000
_MAX_CLAIM = 100
# Interpolated: the module's constants, never input.
_SELECT = f"SELECT {NOTIFICATION_COLUMNS} FROM notifications"  # noqa: S608
_RETURNING = ", ".join(f"n.{name.strip()}" for name in NOTIFICATION_COLUMNS.split(","))
_CERT = ", ".join(f"c.{name.strip()}" for name in CERT_COLUMNS.split(","))
_RETRYABLE = "(state = 'failed' OR (state = 'pending' AND (claim IS NULL OR next_attempt_at <= $1)))"
# One statement over arrays, one array per column: a round trip per event would bound a scan by the network.
_INSERT = (
    f"INSERT INTO notifications ({NOTIFICATION_COLUMNS}) "  # noqa: S608
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], "
    "$6::double precision[], $7::double precision[], $8::double precision[], $9::text[], "
    "$10::double precision[], $11::text[], $12::double precision[]) ON CONFLICT (event_id) DO NOTHING"
)
assert NOTIFICATION_COLUMN_COUNT == 12  # the arrays of _INSERT, one per column


def _page(limit: int, most: int = _MAX_PAGE) -> int:
    return max(0, min(int(limit), most))


class PostgresNotificationStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        checked: dict[str, Notification] = {}
        for notification in notifications:
            new = check_notification(notification)
            checked.setdefault(new.event_id, new)
        if not checked:
            return 0
        # Read first: finding them all known (another worker's scan was first) writes nothing.
        unknown = await self.unknown_event_ids(list(checked))
        checked = {event_id: n for event_id, n in checked.items() if event_id in unknown}
        if not checked:
            return 0
        rows = list(checked.values())
        return await self._db.execute(
            _INSERT,
            [n.event_id for n in rows],
            [n.event_type for n in rows],
            [n.payload for n in rows],
            [n.state for n in rows],
            [n.attempts for n in rows],
            [n.created_at for n in rows],
            [n.next_attempt_at for n in rows],
            [n.give_up_at for n in rows],
            [n.claim for n in rows],
            [n.delivered_at for n in rows],
            [n.last_error for n in rows],
            [n.updated_at for n in rows],
        )

    async def unknown_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        unknown = set(event_ids)
        if unknown:
            known = await self._db.fetch(
                "SELECT event_id FROM notifications WHERE event_id = ANY($1::text[])", list(unknown)
            )
            unknown.difference_update(row["event_id"] for row in known)
        return unknown

    async def claim_due(self, now: float, *, lease_until: float, claim: str, limit: int = 10) -> Sequence[Notification]:
        token = check_claim(claim)
        due = await self._db.fetchval(
            "SELECT 1 FROM notifications WHERE state = 'pending' AND next_attempt_at <= $1 LIMIT 1", now
        )
        if due is None:
            return []
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                "UPDATE notifications n SET claim = $1, attempts = n.attempts + 1, next_attempt_at = $2, "  # noqa: S608 - constants only
                "updated_at = $3 FROM (SELECT event_id FROM notifications WHERE state = 'pending' "
                "AND next_attempt_at <= $3 ORDER BY next_attempt_at, event_id LIMIT $4 FOR UPDATE SKIP LOCKED) due "
                f"WHERE n.event_id = due.event_id RETURNING {_RETURNING}",
                token,
                lease_until,
                now,
                _page(limit, _MAX_CLAIM),
            )
        return sorted((notification_from_row(row) for row in rows), key=lambda n: (n.created_at, n.event_id))

    async def mark_delivered(self, event_id: str, *, now: float) -> bool:
        changed = await self._db.execute(
            "UPDATE notifications SET state = 'delivered', delivered_at = $1, updated_at = $1, claim = NULL, "
            "last_error = '' WHERE event_id = $2 AND state = 'pending'",
            now,
            event_id,
        )
        return changed == 1

    async def mark_failed(self, event_id: str, claim: str, *, now: float, error: str, retry_at: float | None) -> bool:
        changed = await self._db.execute(
            "UPDATE notifications SET state = CASE WHEN $1::double precision IS NULL THEN 'failed' ELSE 'pending' END, "
            "next_attempt_at = COALESCE($1::double precision, next_attempt_at), claim = NULL, last_error = $2, "
            "updated_at = $3 WHERE event_id = $4 AND claim = $5 AND state = 'pending'",
            retry_at,
            check_error(error),
            now,
            event_id,
            check_claim(claim),
        )
        return changed == 1

    async def get_notification(self, event_id: str) -> Notification | None:
        row = await self._db.fetchrow(f"{_SELECT} WHERE event_id = $1", event_id)
        return None if row is None else notification_from_row(row)

    async def list_notifications(
        self, *, states: Sequence[NotificationState] = (), limit: int = 100
    ) -> Sequence[Notification]:
        wanted = check_notification_states(states)
        if wanted:
            rows = await self._db.fetch(
                f"{_SELECT} WHERE state = ANY($1::text[]) ORDER BY updated_at DESC, event_id LIMIT $2",
                list(wanted),
                _page(limit),
            )
        else:
            rows = await self._db.fetch(f"{_SELECT} ORDER BY updated_at DESC, event_id LIMIT $1", _page(limit))
        return [notification_from_row(row) for row in rows]

    async def retry_notification(self, event_id: str, *, now: float, give_up_at: float) -> Notification:
        row = await self._db.fetchrow(
            "UPDATE notifications SET state = 'pending', attempts = 0, next_attempt_at = $1, give_up_at = $2, "  # noqa: S608
            f"claim = NULL, updated_at = $1 WHERE event_id = $3 AND {_RETRYABLE} RETURNING {NOTIFICATION_COLUMNS}",
            now,
            give_up_at,
            event_id,
        )
        if row is not None:
            return notification_from_row(row)
        state = await self._db.fetchval("SELECT state FROM notifications WHERE event_id = $1", event_id)
        if state is None:
            raise NotFound(f"no notification {event_id!r}")
        raise RegistryError(not_retryable(event_id, str(state)))

    async def purge_notifications(self, before: float) -> int:
        return await self._db.execute(
            "DELETE FROM notifications WHERE state IN ('delivered', 'failed') AND updated_at < $1", before
        )

    async def expiring_certificates(
        self, start: float, end: float, *, after: tuple[float, int] | None = None, limit: int = 500
    ) -> Sequence[CertificateRecord]:
        last_time, last_id = after if after is not None else (float("-inf"), 0)
        rows = await self._db.fetch(
            f"SELECT {_CERT} FROM certificates c JOIN orgs o ON o.org_id = c.org_id "  # noqa: S608 - constants only
            "WHERE c.state = 'active' AND o.enabled = 1 AND c.not_after > $1 AND c.not_after <= $2 "
            "AND NOT EXISTS (SELECT 1 FROM certificates s WHERE s.org_id = c.org_id AND s.state = 'active' "
            "AND s.not_after > $2) AND (c.not_after, c.id) > ($3::double precision, $4::bigint) "
            "ORDER BY c.not_after, c.id LIMIT $5",
            float(start),
            float(end),
            float(last_time),
            int(last_id),
            _page(limit),
        )
        return [certificate_from_row(row) for row in rows]

    async def pending_approvals(
        self, *, after: tuple[float, str] | None = None, limit: int = 500
    ) -> Sequence[Enrollment]:
        last_time, last_id = after if after is not None else (float("-inf"), "")
        rows = await self._db.fetch(
            f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE state = 'pending_approval' "  # noqa: S608
            "AND (created_at, enrollment_id) > ($1::double precision, $2::text) "
            "ORDER BY created_at, enrollment_id LIMIT $3",
            float(last_time),
            str(last_id),
            _page(limit),
        )
        return [enrollment_from_row(row) for row in rows]
