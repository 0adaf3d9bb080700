from __future__ import annotations

import json
from collections.abc import Sequence

from forcegate.cli._stores import run_with_stores
from forcegate.stores import AuditEvent, Stores
from helpers import Runner

ORG15 = "00D5g000004SXyz"
ORG18 = "00D5g000004SXyzEAG"
OTHER18 = "00D000000000001EAA"
USER18 = "005000000000001AAA"
T0 = 1_735_732_800.0  # 2025-01-01T12:00:00Z


def append(events: Sequence[AuditEvent]) -> None:
    # The server writes these; here they go in through the same store API.
    async def action(stores: Stores) -> None:
        await stores.audit.append(events)

    run_with_stores(action)


def event(
    at: float, *, org: str | None = ORG18, result: str = "allowed", code: str = "ok", detail: str = ""
) -> AuditEvent:
    return AuditEvent(
        at=at,
        endpoint="/oauth2/token",
        credential="jwt-bearer",
        result="allowed" if result == "allowed" else "denied",
        code=code,
        detail=detail,
        org_id=org,
        user_id=USER18 if org else None,
        subject="admin@acme.example" if org else None,
        issuer=org,
        client="3MVG9_x",
    )


def test_an_empty_log_prints_nothing_but_the_store(forcegate: Runner, store_line: str) -> None:
    outcome = forcegate("audit")
    assert (outcome.code, outcome.out, outcome.err) == (0, "", store_line)
    # A JSON list keeps its shape; the store is named on standard error.
    as_json = forcegate("audit", "--json")
    assert (json.loads(as_json.out), as_json.err) == ([], store_line)


def test_human_lines_newest_first(forcegate: Runner) -> None:
    append(
        [event(T0), event(T0 + 60, result="denied", code="token_expired", detail="exp 2025-01-01T11:00:00Z is past")]
    )
    append([event(T0 + 120, org=None, result="denied", code="unknown_issuer", detail="no org for iss")])
    outcome = forcegate("audit")
    assert outcome.code == 0, outcome.err
    assert outcome.out.splitlines() == [
        "2025-01-01T12:02:00Z  denied  jwt-bearer  /oauth2/token  -  -  unknown_issuer  no org for iss",
        f"2025-01-01T12:01:00Z  denied  jwt-bearer  /oauth2/token  {ORG18}  {USER18}  token_expired  "
        "exp 2025-01-01T11:00:00Z is past",
        f"2025-01-01T12:00:00Z  allowed  jwt-bearer  /oauth2/token  {ORG18}  {USER18}  ok  -",
    ]


def test_org_filter_limit_and_paging(forcegate: Runner) -> None:
    append([event(T0 + i, org=ORG18 if i % 2 else OTHER18) for i in range(10)])
    mine = json.loads(forcegate("audit", "--org", ORG15, "--json").out)  # the 15-character form works
    assert [e["org_id"] for e in mine] == [ORG18] * 5
    assert [e["at"] for e in mine] == [f"2025-01-01T12:00:0{i}Z" for i in (9, 7, 5, 3, 1)]
    first = json.loads(forcegate("audit", "--limit", "3", "--json").out)
    assert len(first) == 3
    second = json.loads(forcegate("audit", "--limit", "3", "--before", str(first[-1]["id"]), "--json").out)
    assert [e["at"] for e in first + second] == [f"2025-01-01T12:00:0{i}Z" for i in range(9, 3, -1)]
    assert len(forcegate("audit").out.splitlines()) == 10
    assert forcegate("audit", "--limit", "0").code == 2
    assert forcegate("audit", "--org", "nope").code == 1


def test_default_limit_is_50(forcegate: Runner) -> None:
    append([event(T0 + i) for i in range(60)])
    assert len(forcegate("audit").out.splitlines()) == 50
    assert len(json.loads(forcegate("audit", "--limit", "60", "--json").out)) == 60


def test_a_limit_beyond_the_store_page_size(forcegate: Runner) -> None:
    # The store answers at most 1000 events per query; the command pages on.
    append([event(T0 + i) for i in range(1500)])
    events = json.loads(forcegate("audit", "--limit", "1200", "--json").out)
    assert len(events) == 1200
    assert len({e["id"] for e in events}) == 1200
    assert len(forcegate("audit", "--limit", "10000").out.splitlines()) == 1500


def test_json_is_a_complete_array(forcegate: Runner) -> None:
    append([event(T0, result="denied", code="invalid_signature", detail="RS256 signature does not verify")])
    [record] = json.loads(forcegate("audit", "--json").out)
    assert record == {
        "id": record["id"],
        "at": "2025-01-01T12:00:00Z",
        "endpoint": "/oauth2/token",
        "credential": "jwt-bearer",
        "result": "denied",
        "code": "invalid_signature",
        "detail": "RS256 signature does not verify",
        "org_id": ORG18,
        "user_id": USER18,
        "subject": "admin@acme.example",
        "issuer": ORG18,
        "client": "3MVG9_x",
        "verified": True,
    }
    assert isinstance(record["id"], int)


def test_control_characters_from_callers_are_escaped(forcegate: Runner) -> None:
    append([event(T0, result="denied", code="unknown_issuer", detail="iss 'x\x1b]0;pwned\x07\nfake line'")])
    [line] = forcegate("audit").out.splitlines()
    assert line.endswith("iss 'x\\x1b]0;pwned\\x07\\nfake line'")
    assert json.loads(forcegate("audit", "--json").out)[0]["detail"] == "iss 'x\x1b]0;pwned\x07\nfake line'"
