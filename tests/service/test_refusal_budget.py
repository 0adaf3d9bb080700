"""RefusalBudget: unverified refusals written per client and code per minute, the rest summarised.

Regression tests of ``audit_unverified_limit``: junk anyone could send is bounded per (client
address, refusal code) and window; verified refusals and allowed decisions never are; what was left
unwritten becomes one row when the window ends; clients past ``max_keys`` share one bucket.
"""

from __future__ import annotations

from forcegate.service.refusal_budget import WINDOW, RefusalBudget
from forcegate.stores.models import AuditEvent

START = 1_700_000_040.0  # a window boundary (a multiple of 60)
CLIENT, OTHER_CLIENT = "198.51.100.7", "198.51.100.8"
ORG = "00D5g000004ABCDEA4"
LIMIT = 3


def _denied(
    client: str | None = CLIENT,
    code: str = "invalid_signature",
    *,
    at: float = START + 10,
    verified: bool = False,
    endpoint: str = "/oauth2/token",
    credential: str = "jwt-bearer",
) -> AuditEvent:
    return AuditEvent(
        at=at,
        endpoint=endpoint,
        credential=credential,
        result="denied",
        code=code,
        detail="RS256 signature does not verify",
        org_id=ORG,
        client=client,
        verified=verified,
    )


def _summary_detail(suppressed: int, who: str, written: int = LIMIT) -> str:
    return (
        f"{suppressed} more unverified refusals from {who} in the minute after the first {written}: "
        "counted, not written one by one"
    )


def test_window_is_one_minute() -> None:
    assert WINDOW == 60.0
    assert START % WINDOW == 0


def test_the_first_limit_unverified_refusals_are_written_then_counted() -> None:
    budget = RefusalBudget(LIMIT)
    admitted = [budget.admit(_denied(at=START + n)) for n in range(LIMIT + 2)]
    assert admitted == [True] * LIMIT + [False, False]


def test_the_suppressed_are_summarised_in_one_event_when_the_window_ends() -> None:
    budget = RefusalBudget(LIMIT)
    for n in range(LIMIT + 4):
        budget.admit(_denied(at=START + n, endpoint="/api/v1/me", credential="bearer"))
    assert budget.summaries(START + WINDOW - 0.5) == []  # the window has not ended yet
    [summary] = budget.summaries(START + WINDOW)
    assert summary == AuditEvent(
        at=START + WINDOW,
        endpoint="/api/v1/me",
        credential="bearer",
        result="denied",
        code="invalid_signature",
        detail=_summary_detail(4, CLIENT),
        client=CLIENT,
        verified=False,
    )
    assert budget.summaries(START + 2 * WINDOW) == []  # given once


def test_no_summary_when_nothing_was_suppressed() -> None:
    budget = RefusalBudget(LIMIT)
    for _ in range(LIMIT):
        assert budget.admit(_denied())
    assert budget.summaries(START + WINDOW) == []


def test_the_bound_is_per_client_and_code() -> None:
    budget = RefusalBudget(LIMIT)
    for _ in range(LIMIT):
        budget.admit(_denied(CLIENT, "invalid_signature"))
    assert not budget.admit(_denied(CLIENT, "invalid_signature"))
    assert budget.admit(_denied(CLIENT, "rate_limited"))
    assert budget.admit(_denied(OTHER_CLIENT, "invalid_signature"))
    summaries = budget.summaries(START + WINDOW)
    assert [(s.client, s.code, s.detail) for s in summaries] == [
        (CLIENT, "invalid_signature", _summary_detail(1, CLIENT))
    ]


def test_a_client_without_an_address_has_a_bucket_too() -> None:
    budget = RefusalBudget(LIMIT)
    assert [budget.admit(_denied(None)) for _ in range(LIMIT + 1)] == [True] * LIMIT + [False]
    [summary] = budget.summaries(START + WINDOW)
    assert summary.detail == _summary_detail(1, "-")


def test_verified_refusals_are_never_bounded() -> None:
    budget = RefusalBudget(LIMIT)
    for _ in range(LIMIT):
        budget.admit(_denied())
    # A replayed genuine assertion, from the same client, with the bound spent: still written.
    assert all(budget.admit(_denied(code="assertion_replayed", verified=True)) for _ in range(5 * LIMIT))
    assert all(budget.admit(_denied(code="invalid_signature", verified=True)) for _ in range(5 * LIMIT))
    assert [s.detail for s in budget.summaries(START + WINDOW)] == []


def test_allowed_decisions_are_never_bounded() -> None:
    budget = RefusalBudget(LIMIT)
    allowed = AuditEvent(
        at=START + 10, endpoint="/oauth2/token", credential="jwt-bearer", result="allowed", code="ok", client=CLIENT
    )
    assert all(budget.admit(allowed) for _ in range(5 * LIMIT))
    # Even one marked unverified: only refusals are bounded.
    unverified_allowed = AuditEvent(
        at=START + 10, endpoint="/x", credential="jwt", result="allowed", code="ok", client=CLIENT, verified=False
    )
    assert all(budget.admit(unverified_allowed) for _ in range(5 * LIMIT))
    assert budget.summaries(START + WINDOW) == []


def test_a_new_window_has_a_new_budget_and_closes_the_previous_one() -> None:
    budget = RefusalBudget(LIMIT)
    for n in range(LIMIT + 2):
        budget.admit(_denied(at=START + n))
    # The next minute: written again, and the previous minute's two are summarised.
    assert [budget.admit(_denied(at=START + WINDOW + n)) for n in range(LIMIT + 1)] == [True] * LIMIT + [False]
    [previous] = budget.summaries(START + WINDOW + 30)
    assert (previous.at, previous.detail) == (START + WINDOW, _summary_detail(2, CLIENT))
    [current] = budget.summaries(START + 2 * WINDOW)
    assert (current.at, current.detail) == (START + 2 * WINDOW, _summary_detail(1, CLIENT))


def test_windows_follow_the_events_time() -> None:
    budget = RefusalBudget(LIMIT)
    # Late in one window, then early in the next: two budgets, though only seconds apart.
    assert [budget.admit(_denied(at=START + WINDOW - 1)) for _ in range(LIMIT)] == [True] * LIMIT
    assert budget.admit(_denied(at=START + WINDOW + 1))


def test_no_bound_when_zero() -> None:
    budget = RefusalBudget(0)
    assert all(budget.admit(_denied()) for _ in range(1000))
    assert budget.summaries(START + WINDOW) == []


def test_a_custom_window() -> None:
    budget = RefusalBudget(1, window=10.0)
    assert [budget.admit(_denied(at=START + n)) for n in (0, 1, 2)] == [True, False, False]
    assert budget.admit(_denied(at=START + 10))
    [summary] = budget.summaries(START + 20)
    assert (summary.at, summary.detail) == (START + 10, _summary_detail(2, CLIENT, written=1))


def test_clients_past_max_keys_share_one_overflow_bucket() -> None:
    """An attacker rotating addresses can neither grow memory nor escape the bound."""
    budget = RefusalBudget(2, max_keys=2)
    assert budget.admit(_denied("192.0.2.1"))
    assert budget.admit(_denied("192.0.2.2"))
    rotated = [budget.admit(_denied(f"203.0.113.{n}")) for n in range(1, 51)]
    assert rotated == [True, True] + [False] * 48
    # The clients tracked before keep their own budget.
    assert budget.admit(_denied("192.0.2.1"))
    assert not budget.admit(_denied("192.0.2.1"))
    summaries = {(s.client, s.code): s for s in budget.summaries(START + WINDOW)}
    assert set(summaries) == {("192.0.2.1", "invalid_signature"), (None, "refusals_summarised")}
    overflow = summaries[None, "refusals_summarised"]
    assert overflow.detail == _summary_detail(48, "clients past the tracking bound", written=2)
    assert (overflow.verified, overflow.result, overflow.at) == (False, "denied", START + WINDOW)


def test_the_overflow_holds_every_code_together() -> None:
    budget = RefusalBudget(1, max_keys=1)
    assert budget.admit(_denied("192.0.2.1", "invalid_signature"))
    assert budget.admit(_denied("192.0.2.1", "rate_limited"))  # a new key past max_keys: the overflow
    assert not budget.admit(_denied("192.0.2.9", "canvas_signature_invalid"))
    assert not budget.admit(_denied("192.0.2.1", "malformed_token"))


def test_buckets_are_let_go_when_their_window_ends() -> None:
    budget = RefusalBudget(1, max_keys=2)
    budget.admit(_denied("192.0.2.1"))
    budget.admit(_denied("192.0.2.2"))
    budget.summaries(START + WINDOW)
    # The next minute, new clients get buckets of their own again: the old ones were let go.
    assert budget.admit(_denied("192.0.2.3", at=START + WINDOW + 1))
    assert budget.admit(_denied("192.0.2.4", at=START + WINDOW + 1))
    assert not budget.admit(_denied("192.0.2.4", at=START + WINDOW + 2))
    assert [s.client for s in budget.summaries(START + 2 * WINDOW)] == ["192.0.2.4"]
