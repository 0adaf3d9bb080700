"""Contract of the per-request stores: replay claims, tokens, sessions, audit, service keys, health."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable

import pytest

from forcegate.errors import AlreadyExists, ConfigurationError, StoreUnavailable
from forcegate.stores import Org, Session, SigningKey, Stores
from forcegate.stores.values import REVOCATION_MARGIN
from stores.stores_support import NOW, ORG, OTHER_ORG, Backend, event, identity, run, session, token

# --- replay ------------------------------------------------------------------------------------------


def test_a_key_is_claimed_once(stores: Stores) -> None:
    later = time.time() + 300
    assert run(stores.replay.claim("k1", later)) is True
    assert run(stores.replay.claim("k1", later)) is False
    assert run(stores.replay.claim("k1", later + 600)) is False
    assert run(stores.replay.claim("k2", later)) is True


def test_a_lapsed_claim_can_be_claimed_again(stores: Stores) -> None:
    assert run(stores.replay.claim("k", NOW + 60, now=NOW)) is True
    assert run(stores.replay.claim("k", NOW + 120, now=NOW + 59)) is False
    assert run(stores.replay.claim("k", NOW + 120, now=NOW + 61)) is True
    # The new claim runs until its own expiry.
    assert run(stores.replay.claim("k", NOW + 200, now=NOW + 119)) is False


def test_without_now_the_wall_clock_decides(stores: Stores) -> None:
    assert run(stores.replay.claim("old", time.time() - 1)) is True
    assert run(stores.replay.claim("old", time.time() + 60)) is True
    assert run(stores.replay.claim("old", time.time() + 60)) is False


def test_replay_purge_forgets_only_lapsed_claims(stores: Stores) -> None:
    run(stores.replay.claim("a", NOW + 10, now=NOW))
    run(stores.replay.claim("b", NOW + 20, now=NOW))
    run(stores.replay.claim("c", NOW + 30, now=NOW))
    assert run(stores.replay.purge(NOW + 25)) == 2
    assert run(stores.replay.purge(NOW + 25)) == 0
    # Purged claims are gone even for a caller whose clock lags.
    assert run(stores.replay.claim("c", NOW + 40, now=NOW)) is False
    assert run(stores.replay.claim("a", NOW + 40, now=NOW)) is True


def test_empty_replay_key_is_refused(stores: Stores) -> None:
    with pytest.raises(ConfigurationError):
        run(stores.replay.claim("", NOW))


def test_two_handles_racing_claim_each_key_exactly_once(backend: Backend, stores: Stores) -> None:
    # Each handle lives on its own thread and event loop, as in two worker processes: two SQLite
    # connections, two PostgreSQL pools. ``stores`` has set the storage up before the race.
    keys = [f"jti-{i}" for i in range(200)]
    barrier = threading.Barrier(2, timeout=60)
    won: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def race(index: int) -> None:
        async def claim_all() -> None:
            handle = await backend.open()
            try:
                barrier.wait()
                for key in keys:
                    if await handle.replay.claim(key, time.time() + 300):
                        won[index].append(key)
            finally:
                await handle.close()

        try:
            asyncio.run(claim_all())
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)
            barrier.abort()  # release the other thread

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(won[0] + won[1]) == sorted(keys)
    assert not set(won[0]) & set(won[1])


# --- tokens ------------------------------------------------------------------------------------------


def test_issued_tokens(stores: Stores) -> None:
    run(stores.tokens.record_issued(token()))
    assert run(stores.tokens.get_issued("t1")) == token()
    assert run(stores.tokens.get_issued("t2")) is None
    with pytest.raises(AlreadyExists):
        run(stores.tokens.record_issued(token()))
    no_user = token("t3")._replace(user_id=None)
    run(stores.tokens.record_issued(no_user))
    assert run(stores.tokens.get_issued("t3")) == no_user


def test_revocation(stores: Stores) -> None:
    assert run(stores.tokens.is_revoked("t1")) is False
    run(stores.tokens.revoke("t1", NOW + 600))
    run(stores.tokens.revoke("t1", NOW + 60))  # twice is fine; the later expiry is kept
    assert run(stores.tokens.is_revoked("t1")) is True
    assert run(stores.tokens.is_revoked("t2")) is False
    assert run(stores.tokens.purge(NOW + 300)) == 0
    assert run(stores.tokens.is_revoked("t1")) is True


def test_check_issued_reads_the_record_mac_and_the_revocation(stores: Stores) -> None:
    # The records and the revocations live together on every backend (beside Redis: in PostgreSQL,
    # decision 0032): one lookup answers both.
    def check(jti: str) -> tuple[str | None, bool]:
        found = run(stores.tokens.check_issued(jti))
        return found.mac, found.revoked

    assert check("t1") == (None, False)
    run(stores.tokens.record_issued(token("t1")))
    run(stores.tokens.record_issued(token("t2")._replace(mac=None)))  # a record from before schema 11
    assert check("t1") == (token().mac, False)
    assert check("t2") == (None, False)
    run(stores.tokens.revoke("t1", NOW + 600))
    run(stores.tokens.revoke("t9", NOW + 600))  # revoked, never recorded here
    assert check("t1") == (token().mac, True)
    assert check("t9") == (None, True)
    assert check("t2") == (None, False)


def test_check_issued_reads_the_registry_generation_with_the_token(stores: Stores) -> None:
    # Decision 0031: the lookup is also the request's generation check, so it must see a registry
    # change made just before it.
    before = run(stores.trust.generation())
    assert run(stores.tokens.check_issued("t1")).generation == before
    run(stores.trust.add_org(Org(org_id=ORG)))
    after = run(stores.trust.generation())
    assert after != before
    assert run(stores.tokens.check_issued("t1")).generation == after


def test_token_purge(stores: Stores) -> None:
    run(stores.tokens.record_issued(token("old", NOW + 10)))
    run(stores.tokens.record_issued(token("new", NOW + 1000)))
    run(stores.tokens.revoke("old", NOW + 10))
    run(stores.tokens.revoke("new", NOW + 1000))
    # The issued-token record of "old" goes at its expiry; its revocation is kept for the largest
    # leeway past it (the token may still be accepted until then), and goes after.
    assert run(stores.tokens.purge(NOW + 100)) == 1
    assert run(stores.tokens.get_issued("old")) is None
    assert run(stores.tokens.is_revoked("old")) is True
    assert run(stores.tokens.purge(NOW + 10 + REVOCATION_MARGIN - 1)) == 0
    assert run(stores.tokens.purge(NOW + 10 + REVOCATION_MARGIN + 1)) == 1
    assert run(stores.tokens.is_revoked("old")) is False
    assert run(stores.tokens.get_issued("new")) is not None
    assert run(stores.tokens.is_revoked("new")) is True


# --- sessions ----------------------------------------------------------------------------------------


def test_session_round_trip(stores: Stores) -> None:
    run(stores.sessions.create(session()))
    got = run(stores.sessions.get("a" * 64, now=NOW + 10))
    assert got == session()
    assert got is not None
    assert got.identity.parameters["nested"] == {"k": "v"}
    assert got.identity.scopes == frozenset({"api", "refresh_token"})
    assert run(stores.sessions.get("b" * 64, now=NOW)) is None
    with pytest.raises(AlreadyExists):
        run(stores.sessions.create(session()))


def test_an_expired_session_is_not_returned(stores: Stores) -> None:
    run(stores.sessions.create(session(expires_at=NOW + 60)))
    assert run(stores.sessions.get("a" * 64, now=NOW + 59)) is not None
    assert run(stores.sessions.get("a" * 64, now=NOW + 60)) is None
    assert run(stores.sessions.get("a" * 64)) is None  # the wall clock is far past NOW
    live = Session(id_hash="c" * 64, identity=identity(), created_at=time.time(), expires_at=time.time() + 60)
    run(stores.sessions.create(live))
    assert run(stores.sessions.get("c" * 64)) == live


def test_session_delete_and_purge(backend: Backend, stores: Stores) -> None:
    run(stores.sessions.create(session("a" * 64, NOW + 10)))
    run(stores.sessions.create(session("b" * 64, NOW + 1000)))
    run(stores.sessions.create(session("c" * 64, NOW + 1000)))
    run(stores.sessions.delete("c" * 64))
    run(stores.sessions.delete("c" * 64))  # logging out twice is not an error
    assert run(stores.sessions.get("c" * 64, now=NOW)) is None
    assert run(stores.sessions.purge(NOW + 100)) == (0 if backend.expires_by_itself else 1)
    later = NOW + 100 if backend.expires_by_itself else NOW  # as for replay claims above
    assert run(stores.sessions.get("a" * 64, now=later)) is None
    assert run(stores.sessions.get("b" * 64, now=later)) is not None


# --- audit -------------------------------------------------------------------------------------------


def test_audit_append_and_query_newest_first(stores: Stores) -> None:
    run(stores.audit.append([event(1), event(2, org_id=OTHER_ORG, result="denied"), event(3, org_id=None)]))
    events = run(stores.audit.query())
    assert [e.detail for e in events] == ["event 3", "event 2", "event 1"]
    ids = [e.id for e in events if e.id is not None]
    assert len(ids) == 3
    assert ids == sorted(ids, reverse=True)
    assert events[1].result == "denied"
    assert events[1].code == "token_expired"
    assert events[2] == dataclasses.replace(event(1), id=events[2].id)
    assert [e.detail for e in run(stores.audit.query(org_id=OTHER_ORG))] == ["event 2"]
    assert run(stores.audit.query(org_id="00D000000000000AAA")) == []


def test_audit_paging(stores: Stores) -> None:
    run(stores.audit.append([event(n, org_id=ORG if n % 2 else OTHER_ORG) for n in range(25)]))
    seen: list[str] = []
    before: int | None = None
    while True:
        page = run(stores.audit.query(limit=10, before_id=before))
        if not page:
            break
        assert len(page) <= 10
        seen.extend(e.detail for e in page)
        before = page[-1].id
    assert seen == [f"event {n}" for n in reversed(range(25))]
    first = run(stores.audit.query(org_id=ORG, limit=5))
    second = run(stores.audit.query(org_id=ORG, limit=5, before_id=first[-1].id))
    assert [e.detail for e in [*first, *second]] == [f"event {n}" for n in (23, 21, 19, 17, 15, 13, 11, 9, 7, 5)]


def test_audit_limit_is_capped(stores: Stores) -> None:
    run(stores.audit.append([event(n) for n in range(1005)]))
    assert len(run(stores.audit.query(limit=5000))) == 1000
    assert len(run(stores.audit.query(limit=3))) == 3
    assert run(stores.audit.query(limit=0)) == []


def test_audit_batch_is_all_or_nothing(stores: Stores) -> None:
    run(stores.audit.append([]))
    with pytest.raises(ConfigurationError):
        run(stores.audit.append([event(1), event(2, result="maybe")]))
    assert run(stores.audit.query()) == []


# --- service keys ------------------------------------------------------------------------------------

PEM = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


def test_signing_keys_newest_first(stores: Stores) -> None:
    assert run(stores.keys.signing_keys()) == []
    old = SigningKey(kid="k1", algorithm="RS256", private_pem=PEM, created_at=NOW, active=False)
    new = SigningKey(kid="k2", algorithm="ES256", private_pem=PEM + b"2", created_at=NOW + 10)
    run(stores.keys.add_signing_key(old))
    run(stores.keys.add_signing_key(new))
    assert run(stores.keys.signing_keys()) == [new, old]
    with pytest.raises(AlreadyExists, match="k1"):
        run(stores.keys.add_signing_key(old))
    with pytest.raises(ConfigurationError):
        run(stores.keys.add_signing_key(SigningKey(kid="k3", algorithm="RS256", private_pem=b"", created_at=NOW)))


def test_admin_token(stores: Stores) -> None:
    assert run(stores.keys.has_admin_token()) is False
    assert run(stores.keys.check_admin_token("anything")) is False
    assert run(stores.keys.check_admin_token("")) is False
    run(stores.keys.set_admin_token("first-admin-token"))
    assert run(stores.keys.has_admin_token()) is True
    assert run(stores.keys.check_admin_token("first-admin-token")) is True
    assert run(stores.keys.check_admin_token("first-admin-tokeN")) is False
    run(stores.keys.set_admin_token("second-admin-token"))
    assert run(stores.keys.check_admin_token("first-admin-token")) is False
    assert run(stores.keys.check_admin_token("second-admin-token")) is True
    with pytest.raises(ConfigurationError):
        run(stores.keys.set_admin_token(""))


# --- health, close, other handles --------------------------------------------------------------------


def test_check_and_close(open_stores: Callable[[], Stores]) -> None:
    handle = open_stores()
    health = run(handle.check())
    assert health
    assert set(health.values()) == {"ok"}
    run(handle.close())
    after = run(handle.check())  # never raises
    assert set(after) == set(health)
    assert "ok" not in after.values()
    with pytest.raises(StoreUnavailable):
        run(handle.replay.claim("k", NOW))
    with pytest.raises(StoreUnavailable):
        run(handle.trust.generation())


def test_a_second_handle_sees_runtime_writes(stores: Stores, open_stores: Callable[[], Stores]) -> None:
    other = open_stores()
    run(stores.replay.claim("k", time.time() + 60))
    assert run(other.replay.claim("k", time.time() + 60)) is False
    run(stores.sessions.create(session()))
    assert run(other.sessions.get("a" * 64, now=NOW)) == session()
    run(stores.audit.append([event(1)]))
    assert [e.detail for e in run(other.audit.query())] == ["event 1"]
    run(stores.keys.set_admin_token("shared-token"))
    assert run(other.keys.check_admin_token("shared-token")) is True
    run(stores.tokens.revoke("t1", NOW + 60))
    assert run(other.tokens.is_revoked("t1")) is True
