"""RegistryCache: lazy per-org loading, and every registry write seen on the next refresh."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.service.registry_cache import RegistryCache
from forcegate.stores import Org, Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.sqlite import open_sqlite_stores
from helpers import self_signed
from stores.stores_support import run

ORG_ID = "00D5g000004ABCDEA4"


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    handle = run(open_sqlite_stores(str(tmp_path / "db.sqlite"), box=SecretBox(os.urandom(32))))
    yield handle
    run(handle.close())


class CountingTrust:
    """Wraps a TrustStore and counts reads of orgs, to show the cache at work."""

    def __init__(self, stores: Stores) -> None:
        self.inner = stores.trust
        self.org_reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def get_org(self, org_id: str) -> Org | None:
        self.org_reads += 1
        return await self.inner.get_org(org_id)


def test_orgs_load_once_until_the_registry_changes(stores: Stores, rsa_key: rsa.RSAPrivateKey) -> None:
    trust = CountingTrust(stores)
    cache = RegistryCache(trust)  # type: ignore[arg-type]  # a duck-typed TrustStore
    run(stores.trust.add_org(Org(org_id=ORG_ID, scopes=("api",))))
    run(cache.refresh())
    first = run(cache.org(ORG_ID))
    assert first is not None
    assert first.keys == ()
    assert first.issuers == {ORG_ID}
    assert run(cache.org(ORG_ID)) is first
    assert run(cache.org("00D5g000004XYZWEA4")) is None
    run(cache.org("00D5g000004XYZWEA4"))
    assert trust.org_reads == 2  # one per org: unknown orgs are cached too

    run(cache.refresh())
    assert trust.org_reads == 2, "no change, no reload"

    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    run(stores.trust.add_certificate(ORG_ID, self_signed(rsa_key, start=start)))
    run(cache.refresh())
    reloaded = run(cache.org(ORG_ID))
    assert reloaded is not None
    assert len(reloaded.keys) == 1

    run(stores.trust.update_org(ORG_ID, enabled=False))
    run(cache.refresh())
    disabled = run(cache.org(ORG_ID))
    assert disabled is not None
    assert not disabled.enabled


def test_canvas_secrets_follow_rotation(stores: Stores) -> None:
    cache = RegistryCache(stores.trust)
    run(cache.refresh())
    assert run(cache.canvas_routes()).everything.verifier is None
    run(stores.trust.add_app(consumer_key="ck1", name="one", secret="first"))
    run(cache.refresh())
    trust = run(cache.canvas_routes()).everything
    assert trust.verifier is not None
    assert trust.verifier.secret_count == 1
    run(stores.trust.add_app_secret("ck1", "second"))
    run(cache.refresh())
    rotated = run(cache.canvas("ck1"))
    assert rotated.verifier is not None
    assert rotated.verifier.secret_count == 2
    assert [app.consumer_key for app in rotated.apps] == ["ck1", "ck1"]
    assert run(cache.is_consumer_key("ck1"))
    assert not run(cache.is_consumer_key("ck2"))
