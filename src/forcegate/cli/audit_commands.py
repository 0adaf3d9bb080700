"""``forcegate audit``: the authentication decisions the service recorded, newest first."""

from __future__ import annotations

import click

from forcegate.cli._stores import clean, echo_json, org_id, run_with_stores, store_option
from forcegate.registry.views import audit_view, iso
from forcegate.stores.bundle import Stores
from forcegate.stores.models import AuditEvent

__all__ = ["audit"]

_MAX_LIMIT = 10000


def event_line(event: AuditEvent) -> str:
    """TIME RESULT CREDENTIAL ENDPOINT ORG USER CODE DETAIL, ``-`` for an empty field."""
    fields = (event.result, event.credential, event.endpoint, event.org_id, event.user_id, event.code, event.detail)
    return "  ".join([iso(event.at), *(clean(value) for value in fields)])


@click.command("audit")
@store_option
@click.option("--org", "org", metavar="ORG_ID", help="Only this org's events.")
@click.option(
    "--limit",
    type=click.IntRange(1, _MAX_LIMIT),
    default=50,
    show_default=True,
    help="At most this many events.",
)
@click.option(
    "--before", "before_id", type=click.IntRange(min=1), metavar="ID", help="Only events older than ID (paging)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (with each event's id).")
def audit(org: str | None, limit: int, before_id: int | None, as_json: bool) -> None:
    """Show authentication decisions, newest first.

    One line each: TIME RESULT CREDENTIAL ENDPOINT ORG USER CODE DETAIL.
    """
    wanted = org_id(org) if org is not None else None

    async def action(stores: Stores) -> list[AuditEvent]:
        # Page by id: a backend may cap one query below --limit.
        events: list[AuditEvent] = []
        before = before_id
        while len(events) < limit:
            page = await stores.audit.query(org_id=wanted, limit=limit - len(events), before_id=before)
            events.extend(page)
            if not page or page[-1].id is None:
                break
            before = page[-1].id
        return events[:limit]

    events = run_with_stores(action)
    if as_json:
        echo_json([audit_view(event) for event in events])
        return
    for event in events:
        click.echo(event_line(event))
