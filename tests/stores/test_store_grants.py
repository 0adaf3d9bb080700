"""Contract of GrantRecorder: the token endpoint's claim, token record and audit row, all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from forcegate.errors import ForcegateError
from forcegate.stores import IssuedToken, Stores
from forcegate.stores import Org as OrgRecord
from forcegate.stores.rate_hit import RateExceeded, RateHit
from forcegate.stores.registry_moved import RegistryMoved
from stores import redis_support
from stores.stores_support import NOW, ORG, Backend, event, run


def token(jti: str) -> IssuedToken:
    return IssuedToken(
        jti=jti, org_id=ORG, user_id=None, client_id=ORG, scope="api", issued_at=NOW, expires_at=NOW + 600
    )


def grant(stores: Stores, key: str, jti: str, *, n: int = 1, now: float = NOW) -> bool:
    return run(
        stores.grants.record_grant(replay_key=key, replay_until=NOW + 360, token=token(jti), event=event(n), now=now)
    )


def test_the_winner_writes_everything_the_loser_nothing(stores: Stores) -> None:
    assert grant(stores, "sha256:a", "t1", n=1) is True
    assert run(stores.tokens.get_issued("t1")) == token("t1")
    assert grant(stores, "sha256:a", "t2", n=2) is False
    assert run(stores.tokens.get_issued("t2")) is None
    details = [e.detail for e in run(stores.audit.query())]
    assert details == ["event 1"]


def test_the_claim_is_the_replay_cache_claim(stores: Stores, backend: Backend) -> None:
    assert run(stores.replay.claim("jti:x:1", NOW + 360, now=NOW)) is True
    assert grant(stores, "jti:x:1", "t1") is False
    assert grant(stores, "jti:x:2", "t2") is True
    assert run(stores.replay.claim("jti:x:2", NOW + 360, now=NOW)) is False
    # A lapsed claim can be won again, as with ReplayCache.claim ...
    assert run(stores.replay.claim("jti:x:3", NOW + 360, now=NOW)) is True
    assert grant(stores, "jti:x:3", "t3", now=NOW + 361) is True
    # ... except, where the token record carries its grant key (PostgreSQL), for a key already granted:
    # the record is a second, durable guard (the assertion behind it has expired anyway).
    assert grant(stores, "jti:x:2", "t4", now=NOW + 361) is (backend.name == "sqlite")


def test_a_granted_assertion_stays_single_use_for_another_worker(
    stores: Stores, backend: Backend, open_stores: Callable[[], Stores]
) -> None:
    assert grant(stores, "jti:y:1", "t1") is True
    if backend.redis_prefix:
        # Redis restarted without persistence, or failed over to a replica: the claims are not there.
        redis_support.delete_prefixed(redis_support.shared_url(), backend.redis_prefix)
    assert grant(open_stores(), "jti:y:1", "t2", n=2) is False
    assert run(stores.tokens.get_issued("t2")) is None
    assert [e.detail for e in run(stores.audit.query())] == ["event 1"]


def test_a_failed_grant_burns_nothing(stores: Stores) -> None:
    assert grant(stores, "k1", "same-jti") is True
    # The token record conflicts: the claim of k2 is undone with it, so the assertion can be retried.
    with pytest.raises(ForcegateError):
        grant(stores, "k2", "same-jti", n=2)
    assert [e.detail for e in run(stores.audit.query())] == ["event 1"]
    assert grant(stores, "k2", "other-jti", n=3) is True


def test_concurrent_grants_of_one_assertion_yield_one_winner(stores: Stores) -> None:
    async def race() -> list[bool]:
        return list(
            await asyncio.gather(
                *(
                    stores.grants.record_grant(
                        replay_key="one", replay_until=NOW + 360, token=token(f"t{n}"), event=event(n), now=NOW
                    )
                    for n in range(20)
                )
            )
        )

    results = run(race())
    assert results.count(True) == 1
    assert len(run(stores.audit.query())) == 1


WINDOW = float(NOW // 60 * 60)


def limited_grant(stores: Stores, key: str, jti: str, *, limit: int, n: int = 1) -> bool:
    rate = RateHit(f"assertions:{ORG}", WINDOW, 60, limit)
    return run(
        stores.grants.record_grant(
            replay_key=key, replay_until=NOW + 360, token=token(jti), event=event(n), now=NOW, rate=rate
        )
    )


def assert_next_hit(stores: Stores, count: int) -> None:
    """The window's next hit (a limited claim that refuses it) is the ``count``-th: the counter as the
    grant recorder keeps it, wherever that is (on PostgreSQL + Redis, beside the grants)."""
    with pytest.raises(RateExceeded) as exceeded:
        direct_claim(stores, "sha256:probe", limit=count - 1)
    assert exceeded.value.hits == count


def test_the_rate_hit_is_counted_in_the_grant_and_past_the_limit_nothing_is_claimed(stores: Stores) -> None:
    assert limited_grant(stores, "sha256:r1", "t1", limit=2, n=1) is True
    assert limited_grant(stores, "sha256:r2", "t2", limit=2, n=2) is True
    with pytest.raises(RateExceeded) as exceeded:
        limited_grant(stores, "sha256:r3", "t3", limit=2, n=3)
    assert exceeded.value.hits == 3
    # Nothing of the refused grant was written, and its assertion was not claimed: it can be granted
    # later (the next window, or here without a limit).
    assert run(stores.tokens.get_issued("t3")) is None
    assert [e.detail for e in run(stores.audit.query())] == ["event 2", "event 1"]
    assert grant(stores, "sha256:r3", "t3", n=3) is True
    # The refused hit stayed counted (the unlimited grant counted none): the next hit is the fourth.
    assert_next_hit(stores, 4)


def test_a_replay_gives_its_rate_hit_back(stores: Stores) -> None:
    assert limited_grant(stores, "sha256:p1", "t1", limit=5, n=1) is True
    assert limited_grant(stores, "sha256:p1", "t2", limit=5, n=2) is False  # the same assertion again
    assert run(stores.tokens.get_issued("t2")) is None
    # One grant counted, the replay's hit refunded: the next hit is the second.
    assert_next_hit(stores, 2)


def test_concurrent_limited_grants_get_distinct_counts_and_exactly_the_limit_passes(stores: Stores) -> None:
    """Grants of one moment share a transaction, and on SQLite their hits one counter upsert: each
    still gets its own running count, so exactly ``limit`` of them are granted, whatever the batching."""
    rate = RateHit(f"assertions:{ORG}", WINDOW, 60, 7)

    async def burst() -> list[object]:
        grants = (
            stores.grants.record_grant(
                replay_key=f"sha256:b{n}", replay_until=NOW + 360, token=token(f"b{n}"), event=event(n), now=NOW,
                rate=rate,
            )
            for n in range(12)
        )  # fmt: skip
        return list(await asyncio.gather(*grants, return_exceptions=True))

    results = run(burst())
    assert results.count(True) == 7
    refused = [r for r in results if isinstance(r, RateExceeded)]
    assert sorted(r.hits for r in refused) == [8, 9, 10, 11, 12]  # each refused hit counted, none twice
    assert len(run(stores.audit.query())) == 7
    # A replay in the next burst gives its hit back; the counter stands at 12 + 1 - 1, then the next hit.
    # (Which seven won is up to the backend: on PostgreSQL, the order its pooled connections send in.)
    won = results.index(True)
    assert limited_grant(stores, f"sha256:b{won}", "again", limit=100, n=99) is False
    assert_next_hit(stores, 13)


# --- the claim of a JWT sent directly (no token, no rows) -------------------------------------------


def direct_claim(stores: Stores, key: str, *, limit: int | None = None, now: float = NOW) -> bool:
    rate = None if limit is None else RateHit(f"assertions:{ORG}", WINDOW, 60, limit)
    return run(stores.grants.claim(replay_key=key, replay_until=NOW + 360, now=now, rate=rate))


def test_a_direct_claim_wins_once_and_shares_the_keys_of_grants(stores: Stores) -> None:
    assert direct_claim(stores, "sha256:d1") is True
    assert direct_claim(stores, "sha256:d1") is False
    assert grant(stores, "sha256:d1", "t1") is False  # an assertion used directly cannot be exchanged
    assert grant(stores, "sha256:d2", "t2") is True
    assert direct_claim(stores, "sha256:d2") is False  # nor one exchanged be used directly
    assert direct_claim(stores, "sha256:d1", now=NOW + 361) is True  # a lapsed claim can be made again
    # No rows: only the grant wrote its token record and audit row.
    assert [e.detail for e in run(stores.audit.query())] == ["event 1"]


def test_a_direct_claim_counts_its_rate_hit_refuses_past_the_limit_and_a_replay_gives_it_back(
    stores: Stores,
) -> None:
    assert direct_claim(stores, "sha256:e1", limit=2) is True
    assert direct_claim(stores, "sha256:e1", limit=2) is False  # a replay: its hit given back
    assert direct_claim(stores, "sha256:e2", limit=2) is True
    with pytest.raises(RateExceeded) as exceeded:
        direct_claim(stores, "sha256:e3", limit=2)
    assert exceeded.value.hits == 3
    assert direct_claim(stores, "sha256:e3") is True  # past the limit it was not claimed
    # The refused hit stayed counted: hits e1, e2, e3, then the next.
    assert_next_hit(stores, 4)


# --- the registry generation the decision was made at (decision 0036) ---------------------------------


def test_a_grant_at_the_current_generation_is_written(stores: Stores) -> None:
    current = run(stores.trust.generation())
    granted = stores.grants.record_grant(
        replay_key="sha256:g1", replay_until=NOW + 360, token=token("t1"), event=event(1), now=NOW, generation=current
    )
    assert run(granted) is True
    assert run(stores.tokens.get_issued("t1")) == token("t1")


def test_a_grant_decided_at_another_generation_writes_counts_and_claims_nothing(stores: Stores) -> None:
    current = run(stores.trust.generation())
    rate = RateHit(f"assertions:{ORG}", WINDOW, 60, 10)
    for stale in (current - 1, current + 1):
        with pytest.raises(RegistryMoved) as moved:
            run(
                stores.grants.record_grant(
                    replay_key="sha256:g2", replay_until=NOW + 360, token=token("t2"), event=event(2), now=NOW,
                    rate=rate, generation=stale,
                )
            )  # fmt: skip
        assert moved.value.generation == current
    assert run(stores.tokens.get_issued("t2")) is None
    assert run(stores.audit.query()) == []
    assert_next_hit(stores, 1)  # neither refused attempt counted
    # The assertion was not claimed: decided again at the registry's generation, it is granted.
    assert limited_grant(stores, "sha256:g2", "t2", limit=10, n=2) is True


def test_a_direct_claim_decided_at_another_generation_claims_nothing(stores: Stores) -> None:
    current = run(stores.trust.generation())
    for rate in (None, RateHit(f"assertions:{ORG}", WINDOW, 60, 10)):
        with pytest.raises(RegistryMoved) as moved:
            run(
                stores.grants.claim(
                    replay_key="sha256:g3", replay_until=NOW + 360, now=NOW, rate=rate, generation=current + 7
                )
            )
        assert moved.value.generation == current
    assert_next_hit(stores, 1)
    claim = stores.grants.claim(replay_key="sha256:g3", replay_until=NOW + 360, now=NOW, generation=current)
    assert run(claim) is True


def test_a_registry_write_moves_the_generation_a_grant_is_checked_against(stores: Stores) -> None:
    before = run(stores.trust.generation())
    run(stores.trust.add_org(OrgRecord(org_id="00D000000000002EAA")))
    with pytest.raises(RegistryMoved) as moved:
        run(
            stores.grants.record_grant(
                replay_key="sha256:g4", replay_until=NOW + 360, token=token("t4"), event=event(4), now=NOW,
                generation=before,
            )
        )  # fmt: skip
    assert moved.value.generation == run(stores.trust.generation()) > before


# --- a direct JWT's audit row, written with its claim -------------------------------------------------


def test_a_direct_claim_writes_its_audit_row_only_when_it_wins(stores: Stores) -> None:
    def claim_with(key: str, n: int, *, limit: int | None = None, generation: int | None = None) -> bool:
        rate = None if limit is None else RateHit(f"assertions:{ORG}", WINDOW, 60, limit)
        return run(
            stores.grants.claim(
                replay_key=key, replay_until=NOW + 360, now=NOW, rate=rate, generation=generation, event=event(n)
            )
        )

    assert claim_with("sha256:a1", 1) is True
    assert claim_with("sha256:a1", 2) is False  # a replay: no row
    assert claim_with("sha256:a2", 3, limit=5) is True
    with pytest.raises(RateExceeded):
        claim_with("sha256:a3", 4, limit=1)  # past the limit: no row
    with pytest.raises(RegistryMoved):
        claim_with("sha256:a4", 5, generation=run(stores.trust.generation()) + 1)  # moved: no row
    assert [e.detail for e in run(stores.audit.query())] == ["event 3", "event 1"]
    # No token record either: only a grant writes one.
    assert grant(stores, "sha256:a1", "t1") is False
