"""The notification outbox's record and rows, shared by the SQLite and PostgreSQL notification stores.

A :class:`Notification` is one event for ``FORCEGATE_NOTIFY_URL`` (see
:mod:`forcegate.service.notifications`): its deterministic id, its JSON body exactly as it is sent,
and its delivery state. The body holds public facts only (org ids, certificate fingerprints, an
enrollment's id and username), so it is stored as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from forcegate.errors import ConfigurationError

if TYPE_CHECKING:  # not at run time: stores.values imports the protocols, which import this module
    from forcegate.stores.values import Row

__all__ = [
    "MAX_ERROR_LENGTH",
    "MAX_PAYLOAD_BYTES",
    "NOTIFICATION_COLUMNS",
    "NOTIFICATION_COLUMN_COUNT",
    "NOTIFICATION_STATES",
    "Notification",
    "NotificationState",
    "check_claim",
    "check_error",
    "check_notification",
    "check_notification_states",
    "not_retryable",
    "notification_from_row",
    "notification_values",
]

NotificationState = Literal["pending", "delivered", "failed"]
NOTIFICATION_STATES: tuple[NotificationState, ...] = ("pending", "delivered", "failed")

NOTIFICATION_COLUMNS = (
    "event_id, event_type, payload, state, attempts, created_at, next_attempt_at, give_up_at, claim, "
    "delivered_at, last_error, updated_at"
)
NOTIFICATION_COLUMN_COUNT = NOTIFICATION_COLUMNS.count(",") + 1
#: An event's body is a few hundred bytes; the bound only stops a bug from filling the database.
MAX_PAYLOAD_BYTES = 16 * 1024
#: The last delivery error kept (a status line or an exception's first words, never a body).
MAX_ERROR_LENGTH = 300
# Printable ASCII without spaces: ids are built from event types, hex fingerprints and Salesforce ids.
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,200}")
_EVENT_TYPE = re.compile(r"[a-z][a-z_]*(?:\.[a-z][a-z_]*)+")
_CLAIM = re.compile(r"[0-9a-f]{16,64}")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One event in the outbox.

    ``event_id``: deterministic (``certificate.expiring:<fingerprint>:<org>:<threshold>``), so the
    same event noticed by every worker is one row. ``payload``: the JSON body sent, unchanged between
    attempts. ``state``: ``pending`` (due at ``next_attempt_at``, or being sent while ``claim`` is set
    and ``next_attempt_at`` — the claim's lease — has not passed), ``delivered`` or ``failed`` (given up
    at ``give_up_at``). ``attempts``: how many sends were started.
    """

    event_id: str
    event_type: str
    payload: str
    created_at: float
    next_attempt_at: float
    give_up_at: float
    updated_at: float
    state: NotificationState = "pending"
    attempts: int = 0
    claim: str | None = None
    delivered_at: float | None = None
    last_error: str = ""


def _time(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number of epoch seconds")
    return float(value)


def check_notification(notification: Notification) -> Notification:
    """A new outbox row: ``notification`` checked, pending, never attempted."""
    if not isinstance(notification, Notification):
        raise ConfigurationError(f"expected a Notification, not {type(notification).__name__}")
    if not isinstance(notification.event_id, str) or not _EVENT_ID.fullmatch(notification.event_id):
        raise ConfigurationError("a notification's event id is 1 to 200 printable ASCII characters without spaces")
    if not isinstance(notification.event_type, str) or not _EVENT_TYPE.fullmatch(notification.event_type):
        raise ConfigurationError("a notification's event type is dotted lowercase words (certificate.expiring)")
    payload = notification.payload
    if not isinstance(payload, str) or len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise ConfigurationError(f"a notification's payload is JSON text of at most {MAX_PAYLOAD_BYTES} bytes")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ConfigurationError("a notification's payload is not JSON") from None
    if not isinstance(body, dict) or body.get("id") != notification.event_id:
        raise ConfigurationError("a notification's payload is a JSON object whose id is the event id")
    created = _time(notification.created_at, "created_at")
    return Notification(
        event_id=notification.event_id,
        event_type=notification.event_type,
        payload=payload,
        created_at=created,
        next_attempt_at=_time(notification.next_attempt_at, "next_attempt_at"),
        give_up_at=_time(notification.give_up_at, "give_up_at"),
        updated_at=created,
    )


def check_claim(claim: object) -> str:
    """A sender's claim value: 16 to 64 lowercase hex digits (random, unique to one claim call)."""
    if not isinstance(claim, str) or not _CLAIM.fullmatch(claim):
        raise ConfigurationError("a notification claim is 16 to 64 lowercase hex digits")
    return claim


def check_error(error: object) -> str:
    """A delivery error as stored: one line, control characters escaped, bounded."""
    if not isinstance(error, str):
        raise ConfigurationError(f"a delivery error is text, not {type(error).__name__}")
    line = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), error)
    return line if len(line) <= MAX_ERROR_LENGTH else line[: MAX_ERROR_LENGTH - 1] + "…"


def check_notification_states(states: object) -> tuple[NotificationState, ...]:
    if isinstance(states, str) or not isinstance(states, Sequence):
        raise ConfigurationError("notification states are a list")
    for state in states:
        if state not in NOTIFICATION_STATES:
            raise ConfigurationError(f"a notification state is one of {', '.join(NOTIFICATION_STATES)}, not {state!r}")
    return tuple(states)


def notification_values(n: Notification) -> tuple[Any, ...]:
    """The values of ``NOTIFICATION_COLUMNS``."""
    return (
        n.event_id,
        n.event_type,
        n.payload,
        n.state,
        n.attempts,
        n.created_at,
        n.next_attempt_at,
        n.give_up_at,
        n.claim,
        n.delivered_at,
        n.last_error,
        n.updated_at,
    )


def notification_from_row(row: Row) -> Notification:
    """From a row of ``NOTIFICATION_COLUMNS``."""
    (
        event_id,
        event_type,
        payload,
        state,
        attempts,
        created,
        next_attempt,
        give_up,
        claim,
        delivered,
        error,
        updated,
    ) = tuple(row)
    return Notification(
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        state=state,
        attempts=int(attempts),
        created_at=float(created),
        next_attempt_at=float(next_attempt),
        give_up_at=float(give_up),
        claim=claim,
        delivered_at=None if delivered is None else float(delivered),
        last_error=error,
        updated_at=float(updated),
    )


def not_retryable(event_id: str, state: str) -> str:
    """Why the notification ``event_id``, in ``state``, cannot be retried."""
    if state == "delivered":
        return f"notification {event_id!r} was delivered: there is nothing to retry"
    return f"notification {event_id!r} is being sent right now: retry it once this attempt ends"
