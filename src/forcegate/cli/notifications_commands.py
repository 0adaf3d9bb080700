"""``forcegate notifications``: the outbox of events sent to ``FORCEGATE_NOTIFY_URL`` (docs/onboarding.md).

The running service sends them; these commands show what is waiting, delivered or given up, and send
a failed one again. They parse options, call :mod:`forcegate.service.notifications`, and print.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import orjson

from forcegate.cli._stores import clean, echo_json, run_with_stores, store_option
from forcegate.registry.views import iso
from forcegate.service.notifications import list_notifications, retry_failed, retry_notification
from forcegate.stores.bundle import Stores
from forcegate.stores.notification_rows import NOTIFICATION_STATES, Notification, NotificationState

__all__ = ["notification_line", "notification_view", "notifications"]


def notification_view(notification: Notification) -> dict[str, Any]:
    """The JSON view: the outbox row, and the event as the receiver gets it (``event``)."""
    n = notification
    return {
        "id": n.event_id,
        "type": n.event_type,
        "state": n.state,
        "attempts": n.attempts,
        "created_at": iso(n.created_at),
        "next_attempt_at": iso(n.next_attempt_at) if n.state == "pending" else None,
        "give_up_at": iso(n.give_up_at),
        "delivered_at": None if n.delivered_at is None else iso(n.delivered_at),
        "last_error": n.last_error or None,
        "event": orjson.loads(n.payload),
    }


def notification_line(notification: Notification) -> str:
    """``ID  STATE  ATTEMPTS  WHEN  LAST_ERROR``; WHEN: the next attempt, the delivery, or the giving up."""
    n = notification
    when = n.next_attempt_at if n.state == "pending" else n.delivered_at or n.updated_at
    return f"{n.event_id}  {n.state}  {n.attempts}  {iso(when)}  {clean(n.last_error)}"


def _print(found: Sequence[Notification], as_json: bool) -> None:
    if as_json:
        echo_json([notification_view(n) for n in found])
        return
    for notification in found:
        click.echo(notification_line(notification))


@click.group()
def notifications() -> None:
    """Notifications to FORCEGATE_NOTIFY_URL: certificates expiring in 30, 7 and 1 days, enrollments
    waiting for approval.

    States: pending (waiting for its next attempt, or being sent), delivered (the receiver answered
    2xx), failed (undelivered a day after it happened; retry sends it again).
    """


@notifications.command("list")
@store_option
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(NOTIFICATION_STATES),
    help="Only notifications in this state (repeatable).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (each with the event sent).")
def notifications_list(states: tuple[NotificationState, ...], limit: int, as_json: bool) -> None:
    """List notifications, most recently changed first.

    One line each: ID STATE ATTEMPTS WHEN LAST_ERROR (WHEN: the next attempt of a pending one, the
    delivery of a delivered one, when a failed one was given up).
    """

    async def action(stores: Stores) -> Sequence[Notification]:
        return await list_notifications(stores, states=states, limit=limit)

    _print(run_with_stores(action), as_json)


@notifications.command("retry")
@store_option
@click.argument("event_id", metavar="ID", required=False)
@click.option("--all-failed", is_flag=True, help="Every failed notification (at most 1000).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def notifications_retry(event_id: str | None, all_failed: bool, as_json: bool) -> None:
    """Send a failed notification again (or a waiting one now), with a fresh day of attempts.

    The running service sends it within a second or two; `list` shows the outcome.
    """
    if (event_id is None) == (not all_failed):
        raise click.UsageError("give a notification ID, or --all-failed")

    async def action(stores: Stores) -> Sequence[Notification]:
        if event_id is not None:
            return [await retry_notification(stores, event_id)]
        return await retry_failed(stores)

    _print(run_with_stores(action), as_json)
