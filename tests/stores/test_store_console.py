"""ConsoleStore contract: operators, console sessions, sign-in failure counters, and the console's queries."""

from __future__ import annotations

import asyncio
import time

import pytest

from forcegate.errors import AlreadyExists, ConfigurationError, NotFound
from forcegate.stores import Org, Stores
from forcegate.stores.console_rows import AuditFilter, ConsoleSession, Operator, OrgSearch
from forcegate.stores.models import AuditEvent
from stores.stores_support import ORG, OTHER_ORG, certificate, run

NOW = time.time()


def operator(name: str = "alice") -> Operator:
    return Operator(
        name=name, password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", created_at=NOW, updated_at=NOW
    )


def session(id_hash: str = "a" * 64, *, expires_at: float = NOW + 3600) -> ConsoleSession:
    return ConsoleSession(
        id_hash=id_hash,
        operator="alice",
        credential="password",
        client="10.0.0.1",
        created_at=NOW,
        expires_at=expires_at,
    )


def test_operators_round_trip(stores: Stores) -> None:
    run(stores.console.add_operator(operator()))
    found = run(stores.console.get_operator("alice"))
    assert found is not None
    assert found.password_hash.startswith("$argon2id$")
    with pytest.raises(AlreadyExists):
        run(stores.console.add_operator(operator()))
    run(stores.console.set_operator_password("alice", "$argon2id$new", now=NOW + 1))
    changed = run(stores.console.get_operator("alice"))
    assert changed is not None
    assert changed.password_hash == "$argon2id$new"
    assert changed.updated_at == NOW + 1
    with pytest.raises(NotFound):
        run(stores.console.set_operator_password("bob", "x", now=NOW))
    assert [o.name for o in run(stores.console.list_operators())] == ["alice"]
    assert run(stores.console.get_operator("bob")) is None


def test_an_operator_name_is_checked(stores: Stores) -> None:
    with pytest.raises(ConfigurationError):
        run(stores.console.add_operator(operator("no spaces allowed")))


def test_deleting_an_operator_ends_its_password_sessions(stores: Stores) -> None:
    run(stores.console.add_operator(operator()))
    run(stores.console.create_session(session()))
    run(stores.console.delete_operator("alice"))
    assert run(stores.console.get_session("a" * 64, now=NOW)) is None
    with pytest.raises(NotFound):
        run(stores.console.delete_operator("alice"))


def test_sessions_expire_and_are_shared_between_handles(open_stores: object) -> None:
    first, second = open_stores(), open_stores()  # type: ignore[operator]
    run(first.console.create_session(session()))
    found = run(second.console.get_session("a" * 64, now=NOW))
    assert found == session()
    assert run(second.console.get_session("a" * 64, now=NOW + 3600)) is None  # expired
    with pytest.raises(AlreadyExists):
        run(first.console.create_session(session()))
    run(second.console.delete_session("a" * 64))
    assert run(first.console.get_session("a" * 64, now=NOW)) is None


def test_purge_forgets_expired_sessions_and_old_counters(stores: Stores) -> None:
    run(stores.console.create_session(session("b" * 64, expires_at=NOW - 1)))
    run(stores.console.create_session(session("c" * 64)))
    run(stores.console.count_failure("address:10.0.0.1", now=NOW - 3 * 86400, window=900))
    assert run(stores.console.purge(NOW)) == 2
    assert run(stores.console.get_session("c" * 64, now=NOW)) is not None
    assert run(stores.console.failures("address:10.0.0.1")) is None


def test_failures_count_in_a_window_and_lock(stores: Stores) -> None:
    console = stores.console
    assert [run(console.count_failure("operator:alice", now=NOW + i, window=900)).failures for i in range(3)] == [
        1,
        2,
        3,
    ]
    run(console.lock("operator:alice", NOW + 600))
    run(console.lock("operator:alice", NOW + 300))  # an earlier lock does not shorten it
    state = run(console.failures("operator:alice"))
    assert state is not None
    assert state.failures == 3
    assert state.locked_until == NOW + 600
    assert state.window_start == NOW
    # After the window, counting starts again.
    later = run(console.count_failure("operator:alice", now=NOW + 901, window=900))
    assert (later.failures, later.window_start) == (1, NOW + 901)
    run(console.clear_failures("operator:alice"))
    assert run(console.failures("operator:alice")) is None


def test_concurrent_failures_each_get_their_own_count(open_stores: object) -> None:
    handles = [open_stores() for _ in range(3)]  # type: ignore[operator]

    async def burst() -> list[int]:
        counts = await asyncio.gather(
            *(h.console.count_failure("address:1.2.3.4", now=NOW, window=900) for h in handles for _ in range(4))
        )
        return sorted(c.failures for c in counts)

    assert run(burst()) == list(range(1, 13))


def _orgs(stores: Stores, count: int) -> list[str]:
    ids = []
    for n in range(count):
        org_id = f"00Dx0000000{n:04d}"
        org = run(stores.trust.add_org(Org(org_id=org_id, name=f"Acme {'Blue' if n % 2 else 'Red'} {n}")))
        ids.append(org.org_id)
    return ids


def test_org_search_pages_and_counts(stores: Stores) -> None:
    ids = _orgs(stores, 7)
    run(stores.trust.update_org(ids[0], enabled=False))
    console = stores.console
    assert run(console.count_orgs()) == 7
    blue = OrgSearch(text="bLuE")
    assert run(console.count_orgs(blue)) == 3
    first = run(console.search_orgs(blue, limit=2))
    rest = run(console.search_orgs(blue, limit=2, after=first[-1].org_id))
    assert [o.name for o in [*first, *rest]] == ["Acme Blue 1", "Acme Blue 3", "Acme Blue 5"]
    assert [o.org_id for o in run(console.search_orgs(OrgSearch(text=ids[3][:15])))] == [ids[3]]
    assert [o.org_id for o in run(console.search_orgs(OrgSearch(enabled=False)))] == [ids[0]]
    # LIKE's wildcards are literal text.
    assert run(console.count_orgs(OrgSearch(text="%"))) == 0
    assert run(console.count_orgs(OrgSearch(text="_"))) == 0


def test_registry_counts(stores: Stores) -> None:
    run(stores.trust.add_app(consumer_key="3MVG9key", name="App", secret="s" * 32))
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_certificate(ORG, certificate("one")))
    record = run(stores.trust.add_certificate(ORG, certificate("two")))
    run(stores.trust.set_certificate_state(ORG, record.sha256_fingerprint, "retired"))
    assert run(stores.console.registry_counts()) == {"apps": 1, "orgs": 1, "certificates": 1}


def _event(
    at: float,
    credential: str,
    result: str = "allowed",
    *,
    org_id: str | None = ORG,
    code: str = "ok",
    verified: bool = True,
) -> AuditEvent:
    return AuditEvent(
        at=at,
        endpoint="/x",
        credential=credential,
        result="denied" if result == "denied" else "allowed",
        code=code,
        org_id=org_id,
        verified=verified,
    )


def test_audit_search_filters_and_pages(stores: Stores) -> None:
    run(
        stores.audit.append(
            [
                _event(NOW - 100, "canvas"),
                _event(NOW - 50, "jwt-bearer", "denied", code="invalid_signature"),
                _event(NOW - 10, "jwt-bearer", "denied", org_id=OTHER_ORG, code="expired"),
                _event(NOW, "canvas", "denied", code="invalid_signature"),
            ]
        )
    )
    console = stores.console
    denied = run(console.search_audit(AuditFilter(result="denied")))
    assert [e.code for e in denied] == ["invalid_signature", "expired", "invalid_signature"]
    assert len(run(console.search_audit(AuditFilter(result="denied", org_id=ORG, credential="jwt-bearer")))) == 1
    assert len(run(console.search_audit(AuditFilter(code="invalid_signature", since=NOW - 60)))) == 2
    assert len(run(console.search_audit(AuditFilter(until=NOW - 60)))) == 1
    page = run(console.search_audit(AuditFilter(), limit=2))
    older = run(console.search_audit(AuditFilter(), limit=2, before_id=page[-1].id))
    assert [e.at for e in [*page, *older]] == [NOW, NOW - 10, NOW - 50, NOW - 100]


def test_activity_and_refusal_reasons(stores: Stores) -> None:
    since = NOW - 3600
    run(
        stores.audit.append(
            [
                _event(since + 10, "canvas"),
                _event(since + 20, "canvas"),
                _event(since + 1800, "jwt-bearer", "denied", code="expired"),
                _event(since + 1900, "jwt-bearer", "denied", code="expired"),
                _event(since + 3599, "jwt", "denied", code="invalid_signature"),
                _event(since - 10, "canvas"),  # before the window
            ]
        )
    )
    rows = run(stores.console.activity(since, 600))
    assert [(r.bucket, r.credential, r.result, r.count) for r in rows] == [
        (0, "canvas", "allowed", 2),
        (3, "jwt-bearer", "denied", 2),
        (5, "jwt", "denied", 1),
    ]
    assert list(run(stores.console.refusal_reasons(since))) == [("expired", 2), ("invalid_signature", 1)]


def test_migration_progress_from_the_audit_log(stores: Stores) -> None:
    a, b, c, d = "00Dx0000000000aEAA", "00Dx0000000000bEAA", "00Dx0000000000cEAA", "00Dx0000000000dEAA"
    run(
        stores.audit.append(
            [
                _event(NOW, "canvas", org_id=a),
                _event(NOW, "canvas", org_id=b),
                _event(NOW + 1, "jwt-bearer", org_id=b),
                _event(NOW, "jwt", org_id=c),
                _event(NOW, "jwt-bearer", "denied", org_id=d),  # refused: not a sign of use
                _event(NOW, "canvas", org_id=d, verified=False),
                _event(NOW - 100, "canvas", org_id=c),  # before the window
            ]
        )
    )
    counts = run(stores.console.migration_counts(NOW - 10))
    assert (counts.canvas_only, counts.both, counts.jwt_only) == (1, 1, 1)
    both = run(stores.console.migration_orgs(NOW - 10, "both"))
    assert [(o.org_id, o.last_canvas, o.last_jwt) for o in both] == [(b, NOW, NOW + 1)]
    assert [o.org_id for o in run(stores.console.migration_orgs(NOW - 1000, "both"))] == [b, c]
    assert run(stores.console.migration_orgs(NOW - 1000, "both", after=b))[0].org_id == c
