"""The console's records and the SQL both dialects run for them (:class:`~forcegate.stores.protocols.ConsoleStore`).

Operators, their sessions and the sign-in failure counters, plus the read queries of the console's
pages (org search, audit filters, the overview's aggregates). Every query is built here once, with
``mark(n)`` spelling the n-th placeholder (``?`` on SQLite, ``$n`` on PostgreSQL), so the two
backends only run them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from forcegate.errors import ConfigurationError
from forcegate.stores.records import audit_select
from forcegate.stores.values import ORG_COLUMNS, Row, check_text

__all__ = [
    "CANVAS_CREDENTIALS",
    "EVERY_ORG",
    "JWT_CREDENTIALS",
    "MAX_ORG_PAGE",
    "ActivityRow",
    "AuditFilter",
    "ConsoleSession",
    "MigrationCategory",
    "MigrationCounts",
    "MigrationOrg",
    "Operator",
    "OrgSearch",
    "SignInFailures",
    "activity_select",
    "audit_search_select",
    "check_operator_name",
    "migration_counts_select",
    "migration_orgs_select",
    "org_count_select",
    "org_search_select",
    "reasons_select",
    "session_from_row",
]

Mark = Callable[[int], str]
Dialect = Literal["sqlite", "postgresql"]

MAX_ORG_PAGE = 200
#: An operator's name: what the audit log shows as who acted. Letters, digits and ``._@-``.
OPERATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: The audit log's credential kinds that are Canvas, and those that are Apex JWTs (migration progress).
CANVAS_CREDENTIALS = ("canvas",)
JWT_CREDENTIALS = ("jwt-bearer", "jwt")
MigrationCategory = Literal["canvas-only", "both", "jwt-only"]


def check_operator_name(value: object) -> str:
    if not isinstance(value, str) or not OPERATOR_NAME.fullmatch(value):
        raise ConfigurationError(
            "an operator name is 1 to 64 letters, digits and '._@-', starting with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Operator:
    """A named console operator; ``password_hash`` is an Argon2id PHC string (never the password)."""

    name: str
    password_hash: str = field(repr=False)
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSession:
    """A signed-in console session. ``id_hash``: SHA-256 (hex) of the cookie's random value.
    ``credential``: ``password`` or ``admin-token``."""

    id_hash: str
    operator: str
    credential: str
    created_at: float
    expires_at: float
    client: str | None = None


@dataclass(frozen=True, slots=True)
class SignInFailures:
    """Failed sign-ins of one key (an address or an operator) in the current window."""

    failures: int
    window_start: float
    locked_until: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgSearch:
    """What the console's org list asks: ``text`` matches an org id prefix or any part of a name
    (case-insensitive); ``enabled`` narrows to enabled or disabled orgs."""

    text: str = ""
    enabled: bool | None = None


#: The org list unfiltered.
EVERY_ORG = OrgSearch()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """The audit page's filters; each None (or empty) leaves the events unfiltered by it."""

    org_id: str | None = None
    result: Literal["allowed", "denied"] | None = None
    credential: str | None = None
    code: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """Decisions of one credential kind and result in one time bucket (the overview's chart)."""

    bucket: int
    credential: str
    result: str
    count: int


@dataclass(frozen=True, slots=True)
class MigrationCounts:
    canvas_only: int
    both: int
    jwt_only: int


@dataclass(frozen=True, slots=True)
class MigrationOrg:
    """An org seen in the audit log, and when it last arrived through Canvas and through a JWT."""

    org_id: str
    last_canvas: float | None
    last_jwt: float | None


def session_from_row(row: Row) -> ConsoleSession:
    id_hash, operator, credential, client, created_at, expires_at = row
    return ConsoleSession(
        id_hash=id_hash,
        operator=operator,
        credential=credential,
        client=client,
        created_at=created_at,
        expires_at=expires_at,
    )


SESSION_COLUMNS = "id_hash, operator, credential, client, created_at, expires_at"
#: How long a failure counter is kept after its window and lock ended (seconds).
FAILURE_MEMORY = 86400.0

#: Count one failure, atomically (an upsert): $1 key, $2 now, $3 the oldest window start still current.
#: The placeholders are PostgreSQL's; SQLite's are ``?`` in the same order. CASTs give PostgreSQL the
#: parameters' types.
COUNT_FAILURE = (
    "INSERT INTO console_sign_in_failures (failure_key, failures, window_start, locked_until) "
    "VALUES ($1, 1, CAST($2 AS DOUBLE PRECISION), NULL) ON CONFLICT (failure_key) DO UPDATE SET "
    "failures = CASE WHEN console_sign_in_failures.window_start >= CAST($3 AS DOUBLE PRECISION) "
    "THEN console_sign_in_failures.failures + 1 ELSE 1 END, "
    "window_start = CASE WHEN console_sign_in_failures.window_start >= CAST($3 AS DOUBLE PRECISION) "
    "THEN console_sign_in_failures.window_start ELSE excluded.window_start END "
    "RETURNING failures, window_start, locked_until"
)
REGISTRY_COUNTS = (
    "SELECT (SELECT COUNT(*) FROM apps), (SELECT COUNT(*) FROM orgs), "
    "(SELECT COUNT(*) FROM certificates WHERE state = 'active')"
)


def _like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (``\\`` escapes)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _org_conditions(search: OrgSearch, mark: Mark, params: list[object]) -> list[str]:
    conditions: list[str] = []
    text = check_text(search.text, "search").strip()
    if text:
        # An id prefix (ids are case-sensitive, so as typed) or any part of the name, case-insensitive.
        params.append(_like(text) + "%")
        id_mark = mark(len(params))
        params.append("%" + _like(text.lower()) + "%")
        conditions.append(f"(org_id LIKE {id_mark} ESCAPE '\\' OR LOWER(name) LIKE {mark(len(params))} ESCAPE '\\')")
    if search.enabled is not None:
        params.append(int(search.enabled))
        conditions.append(f"enabled = {mark(len(params))}")
    return conditions


def org_search_select(search: OrgSearch, *, limit: int, after: str | None, mark: Mark) -> tuple[str, list[object]]:
    """A page of matching orgs by id (keyset paging: ``after`` the last id of the previous page)."""
    params: list[object] = []
    conditions = _org_conditions(search, mark, params)
    params.append(after or "")
    conditions.append(f"org_id > {mark(len(params))}")
    params.append(max(0, min(limit, MAX_ORG_PAGE)))
    # Interpolated: the module's column list, conditions and placeholders, never input.
    sql = f"SELECT {ORG_COLUMNS} FROM orgs WHERE {' AND '.join(conditions)} ORDER BY org_id LIMIT {mark(len(params))}"  # noqa: S608
    return sql, params


def org_count_select(search: OrgSearch, *, mark: Mark) -> tuple[str, list[object]]:
    params: list[object] = []
    conditions = _org_conditions(search, mark, params)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT COUNT(*) FROM orgs{where}", params  # noqa: S608


def audit_search_select(
    given: AuditFilter, *, limit: int, before_id: int | None, mark: Mark
) -> tuple[str, list[object]]:
    """Events matching ``given``, newest first (by id); ``before_id`` pages (``AuditLog.query``'s query)."""
    return audit_select(
        org_id=given.org_id,
        limit=limit,
        before_id=before_id,
        mark=mark,
        equal=(("result", given.result), ("credential", given.credential), ("code", given.code)),
        since=given.since,
        until=given.until,
    )


def activity_select(since: float, bucket_seconds: int, *, mark: Mark, dialect: Dialect) -> tuple[str, list[object]]:
    """Decisions since ``since`` counted by (time bucket, credential, result); one aggregate query."""
    # SQLite's CAST truncates a positive real; PostgreSQL's rounds, so FLOOR there.
    bucket = (
        f"CAST((at - {mark(1)}) / {mark(2)} AS INTEGER)"
        if dialect == "sqlite"
        else f"FLOOR((at - {mark(1)}) / {mark(2)})::BIGINT"
    )
    sql = (
        f"SELECT {bucket} AS bucket, credential, result, COUNT(*) FROM audit_events "  # noqa: S608
        f"WHERE result IN ('allowed', 'denied') AND at >= {mark(3)} GROUP BY bucket, credential, result ORDER BY bucket"
    )
    return sql, [since, float(bucket_seconds), since]


def reasons_select(since: float, limit: int, *, mark: Mark) -> tuple[str, list[object]]:
    """The most frequent refusal codes since ``since``, with their counts."""
    sql = (
        f"SELECT code, COUNT(*) AS n FROM audit_events WHERE result = 'denied' AND at >= {mark(1)} "  # noqa: S608
        f"GROUP BY code ORDER BY n DESC, code LIMIT {mark(2)}"
    )
    return sql, [since, max(0, min(limit, 100))]


def _per_org(mark: Mark) -> str:
    """Per verified org: when it last came through Canvas, when through an Apex JWT (allowed decisions only).

    ``COALESCE(org_id, '') <> ''`` rather than ``org_id IS NOT NULL``: the latter tempts SQLite into the
    by-org index (every row, then the table); this way the covering (result, at, …) index is read alone."""
    canvas = ", ".join(f"'{kind}'" for kind in CANVAS_CREDENTIALS)
    jwt = ", ".join(f"'{kind}'" for kind in JWT_CREDENTIALS)
    return (
        f"SELECT org_id, MAX(CASE WHEN credential IN ({canvas}) THEN at END) AS last_canvas, "  # noqa: S608
        f"MAX(CASE WHEN credential IN ({jwt}) THEN at END) AS last_jwt FROM audit_events "
        f"WHERE result = 'allowed' AND at >= {mark(1)} AND verified = 1 AND COALESCE(org_id, '') <> '' "
        f"AND credential IN ({canvas}, {jwt}) GROUP BY org_id"
    )


_CATEGORY = {
    "canvas-only": "last_canvas IS NOT NULL AND last_jwt IS NULL",
    "both": "last_canvas IS NOT NULL AND last_jwt IS NOT NULL",
    "jwt-only": "last_canvas IS NULL AND last_jwt IS NOT NULL",
}


def migration_counts_select(since: float, *, mark: Mark) -> tuple[str, list[object]]:
    sums = ", ".join(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)" for condition in _CATEGORY.values())
    return f"SELECT {sums} FROM ({_per_org(mark)}) AS per_org", [since]  # noqa: S608


def migration_orgs_select(
    since: float, category: MigrationCategory, *, limit: int, after: str | None, mark: Mark
) -> tuple[str, list[object]]:
    """The orgs of one category, by id (``after`` pages)."""
    sql = (
        f"SELECT org_id, last_canvas, last_jwt FROM ({_per_org(mark)}) AS per_org "  # noqa: S608
        f"WHERE {_CATEGORY[category]} AND org_id > {mark(2)} ORDER BY org_id LIMIT {mark(3)}"
    )
    return sql, [since, after or "", max(0, min(limit, 1000))]


def migration_org_from_row(row: Row) -> MigrationOrg:
    return MigrationOrg(row[0], row[1], row[2])


def activity_from_row(row: Row) -> ActivityRow:
    return ActivityRow(int(row[0]), row[1], row[2], int(row[3]))


def counts_from_row(row: Row | None) -> MigrationCounts:
    values = [int(value or 0) for value in (row or (0, 0, 0))]
    return MigrationCounts(*values)


def reasons_from_rows(rows: Sequence[Row]) -> list[tuple[str, int]]:
    return [(row[0], int(row[1])) for row in rows]
