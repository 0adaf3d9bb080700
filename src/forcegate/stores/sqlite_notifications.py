"""The notification outbox on SQLite (:class:`~forcegate.stores.protocols.NotificationStore`).

Not part of the trust registry: no write bumps the registry generation. Every worker polls, so the
polls are reads (WAL readers never wait for the writer) and the write lock is taken only when there
is something to insert or claim. A claim is one ``UPDATE … RETURNING`` under SQLite's single write
lock: two workers (or two processes) can never claim the same row.
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
    notification_values,
)
from forcegate.stores.records import CERT_COLUMNS, certificate_from_row
from forcegate.stores.sqlite_db import SqliteDatabase

__all__ = ["SqliteNotificationStore"]

_MAX_PAGE = 1000
_MAX_CLAIM = 100
# SQLite's default limit of host parameters is 32766; a chunk stays far below it.
_CHUNK = 500
# Interpolated: the module's constants, never input.
_SELECT = f"SELECT {NOTIFICATION_COLUMNS} FROM notifications"  # noqa: S608
_INSERT = (
    f"INSERT INTO notifications ({NOTIFICATION_COLUMNS}) VALUES ({', '.join('?' * NOTIFICATION_COLUMN_COUNT)}) "  # noqa: S608
    "ON CONFLICT (event_id) DO NOTHING"
)
_CERT = ", ".join(f"c.{name.strip()}" for name in CERT_COLUMNS.split(","))
_RETRYABLE = "(state = 'failed' OR (state = 'pending' AND (claim IS NULL OR next_attempt_at <= ?)))"


def _page(limit: int, most: int = _MAX_PAGE) -> int:
    return max(0, min(int(limit), most))


class SqliteNotificationStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        checked: dict[str, Notification] = {}
        for notification in notifications:
            new = check_notification(notification)
            checked.setdefault(new.event_id, new)
        # Read first: finding them all known (another worker's scan was first) takes no write lock.
        unknown = await self.unknown_event_ids(list(checked))
        checked = {event_id: n for event_id, n in checked.items() if event_id in unknown}
        if not checked:
            return 0
        async with self._db.write() as conn:
            before = conn.total_changes
            conn.executemany(_INSERT, [notification_values(n) for n in checked.values()])
            return conn.total_changes - before

    async def unknown_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        unknown = set(event_ids)
        ids = list(unknown)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            known = self._db.read_all(
                f"SELECT event_id FROM notifications WHERE event_id IN ({', '.join('?' * len(chunk))})",  # noqa: S608
                chunk,
            )
            unknown.difference_update(row[0] for row in known)
        return unknown

    async def claim_due(self, now: float, *, lease_until: float, claim: str, limit: int = 10) -> Sequence[Notification]:
        token = check_claim(claim)
        due = self._db.read_one(
            "SELECT 1 FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? LIMIT 1", (now,)
        )
        if due is None:
            return []
        async with self._db.write() as conn:
            rows = conn.execute(
                "UPDATE notifications SET claim = ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ? "  # noqa: S608 - constants only
                "WHERE event_id IN (SELECT event_id FROM notifications WHERE state = 'pending' "
                "AND next_attempt_at <= ? ORDER BY next_attempt_at, event_id LIMIT ?) "
                f"RETURNING {NOTIFICATION_COLUMNS}",
                (token, lease_until, now, now, _page(limit, _MAX_CLAIM)),
            ).fetchall()
        return sorted((notification_from_row(row) for row in rows), key=lambda n: (n.created_at, n.event_id))

    async def mark_delivered(self, event_id: str, *, now: float) -> bool:
        changed = await self._db.execute(
            "UPDATE notifications SET state = 'delivered', delivered_at = ?, updated_at = ?, claim = NULL, "
            "last_error = '' WHERE event_id = ? AND state = 'pending'",
            (now, now, event_id),
        )
        return changed == 1

    async def mark_failed(self, event_id: str, claim: str, *, now: float, error: str, retry_at: float | None) -> bool:
        changed = await self._db.execute(
            "UPDATE notifications SET state = CASE WHEN ? IS NULL THEN 'failed' ELSE 'pending' END, "
            "next_attempt_at = COALESCE(?, next_attempt_at), claim = NULL, last_error = ?, updated_at = ? "
            "WHERE event_id = ? AND claim = ? AND state = 'pending'",
            (retry_at, retry_at, check_error(error), now, event_id, check_claim(claim)),
        )
        return changed == 1

    async def get_notification(self, event_id: str) -> Notification | None:
        row = self._db.read_one(f"{_SELECT} WHERE event_id = ?", (event_id,))
        return None if row is None else notification_from_row(row)

    async def list_notifications(
        self, *, states: Sequence[NotificationState] = (), limit: int = 100
    ) -> Sequence[Notification]:
        wanted = check_notification_states(states)
        where = f" WHERE state IN ({', '.join('?' * len(wanted))})" if wanted else ""
        rows = self._db.read_all(
            f"{_SELECT}{where} ORDER BY updated_at DESC, event_id LIMIT ?", (*wanted, _page(limit))
        )
        return [notification_from_row(row) for row in rows]

    async def retry_notification(self, event_id: str, *, now: float, give_up_at: float) -> Notification:
        async with self._db.write() as conn:
            row = conn.execute(
                "UPDATE notifications SET state = 'pending', attempts = 0, next_attempt_at = ?, give_up_at = ?, "  # noqa: S608 - constants only
                f"claim = NULL, updated_at = ? WHERE event_id = ? AND {_RETRYABLE} "
                f"RETURNING {NOTIFICATION_COLUMNS}",
                (now, give_up_at, now, event_id, now),
            ).fetchone()
            if row is None:
                found = conn.execute("SELECT state FROM notifications WHERE event_id = ?", (event_id,)).fetchone()
        if row is not None:
            return notification_from_row(row)
        if found is None:
            raise NotFound(f"no notification {event_id!r}")
        raise RegistryError(not_retryable(event_id, found[0]))

    async def purge_notifications(self, before: float) -> int:
        if (
            self._db.read_one(
                "SELECT 1 FROM notifications WHERE state IN ('delivered', 'failed') AND updated_at < ? LIMIT 1",
                (before,),
            )
            is None
        ):
            return 0  # nothing to delete: no write lock taken
        return await self._db.execute(
            "DELETE FROM notifications WHERE state IN ('delivered', 'failed') AND updated_at < ?", (before,)
        )

    async def expiring_certificates(
        self, start: float, end: float, *, after: tuple[float, int] | None = None, limit: int = 500
    ) -> Sequence[CertificateRecord]:
        last_time, last_id = after if after is not None else (float("-inf"), 0)
        rows = self._db.read_all(
            f"SELECT {_CERT} FROM certificates c JOIN orgs o ON o.org_id = c.org_id "  # noqa: S608 - constants only
            "WHERE c.state = 'active' AND o.enabled = 1 AND c.not_after > ? AND c.not_after <= ? "
            "AND NOT EXISTS (SELECT 1 FROM certificates s WHERE s.org_id = c.org_id AND s.state = 'active' "
            "AND s.not_after > ?) AND (c.not_after, c.id) > (?, ?) ORDER BY c.not_after, c.id LIMIT ?",
            (float(start), float(end), float(end), float(last_time), int(last_id), _page(limit)),
        )
        return [certificate_from_row(row) for row in rows]

    async def pending_approvals(
        self, *, after: tuple[float, str] | None = None, limit: int = 500
    ) -> Sequence[Enrollment]:
        last_time, last_id = after if after is not None else (float("-inf"), "")
        rows = self._db.read_all(
            f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE state = 'pending_approval' "  # noqa: S608
            "AND (created_at, enrollment_id) > (?, ?) ORDER BY created_at, enrollment_id LIMIT ?",
            (float(last_time), str(last_id), _page(limit)),
        )
        return [enrollment_from_row(row) for row in rows]
