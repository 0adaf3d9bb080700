"""Contract of GrantRecorder: the token endpoint's claim, token record and audit row, all or nothing."""

from __future__ import annotations

import asyncio

import pytest

from forcegate.errors import ForcegateError
from forcegate.stores import IssuedToken, Stores
from stores.stores_support import NOW, ORG, event, run


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


def test_the_claim_is_the_replay_cache_claim(stores: Stores) -> None:
    assert run(stores.replay.claim("jti:x:1", NOW + 360, now=NOW)) is True
    assert grant(stores, "jti:x:1", "t1") is False
    assert grant(stores, "jti:x:2", "t2") is True
    assert run(stores.replay.claim("jti:x:2", NOW + 360, now=NOW)) is False
    # A lapsed claim can be won again, as with ReplayCache.claim.
    assert grant(stores, "jti:x:2", "t3", now=NOW + 361) is True


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
