"""The registry service itself: all-or-nothing writes, the shared-trust audit trail, one kind of bad-input error."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.errors import AlreadyExists, CertificateShared, InvalidInput, NotFound
from forcegate.registry import Actor, AppInput, OrgChanges, OrgInput, RegistryService
from forcegate.settings import Settings
from forcegate.stores import Stores, open_stores
from helpers import self_signed

ORG = "00D5g000004ABCDEA4"
OTHER_ORG = "00D5g000004XYZWEA4"
SECRET = "a-consumer-secret-of-good-length"


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def stores(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[Stores]:
    opened = loop.run_until_complete(open_stores(Settings(data_dir=tmp_path / "data")))
    yield opened
    loop.run_until_complete(opened.close())


@pytest.fixture
def registry(stores: Stores) -> RegistryService:
    return RegistryService(stores)


def test_a_shared_certificate_is_audited_with_who_asked(
    registry: RegistryService, stores: Stores, loop: asyncio.AbstractEventLoop, rsa_key: rsa.RSAPrivateKey
) -> None:
    certificate = self_signed(rsa_key)
    loop.run_until_complete(registry.add_org(OrgInput(org_id=ORG)))
    loop.run_until_complete(registry.add_org(OrgInput(org_id=OTHER_ORG)))
    loop.run_until_complete(registry.add_certificates(ORG, [("first", certificate)]))
    assert loop.run_until_complete(stores.audit.query()) == []  # one org per certificate: nothing to flag
    with pytest.raises(CertificateShared):
        loop.run_until_complete(registry.add_certificates(OTHER_ORG, [("second", certificate)]))
    actor = Actor(entry="/admin/api/v1/orgs/x/certificates", credential="admin", client="192.0.2.7")
    added = loop.run_until_complete(
        registry.add_certificates(OTHER_ORG, [("second", certificate)], shared=True, actor=actor)
    )
    assert [r.shared for r in added.records] == [True]
    [event] = loop.run_until_complete(stores.audit.query())
    assert (event.code, event.org_id, event.credential, event.client) == (
        "certificate_shared",
        OTHER_ORG,
        "admin",
        "192.0.2.7",
    )
    assert ORG in event.detail


def test_import_app_writes_nothing_when_the_certificate_is_refused(
    registry: RegistryService, stores: Stores, loop: asyncio.AbstractEventLoop, rsa_key: rsa.RSAPrivateKey
) -> None:
    loop.run_until_complete(registry.add_org(OrgInput(org_id=ORG)))
    expired = self_signed(rsa_key, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=400), days=30)
    given = AppInput(consumer_key="3MVG9.import", secret=SECRET)
    with pytest.raises(Exception, match="expired"):
        loop.run_until_complete(registry.import_app(given, certificate=expired, org_id=ORG))
    assert loop.run_until_complete(stores.trust.list_apps()) == []


def test_import_app_removes_the_app_when_the_certificate_write_loses_a_race(
    registry: RegistryService,
    stores: Stores,
    loop: asyncio.AbstractEventLoop,
    rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop.run_until_complete(registry.add_org(OrgInput(org_id=ORG)))
    certificate = self_signed(rsa_key)

    async def lost(*_args: object, **_kwargs: object) -> object:
        raise AlreadyExists("another writer registered it first")

    monkeypatch.setattr(stores.trust, "add_certificates", lost)
    with pytest.raises(AlreadyExists):
        loop.run_until_complete(
            registry.import_app(AppInput(consumer_key="3MVG9.race", secret=SECRET), certificate=certificate, org_id=ORG)
        )
    assert loop.run_until_complete(stores.trust.list_apps()) == []  # all or nothing


def test_update_org_keeps_the_lifetimes_it_is_not_given(
    registry: RegistryService, loop: asyncio.AbstractEventLoop
) -> None:
    loop.run_until_complete(registry.add_org(OrgInput(org_id=ORG, max_assertion_lifetime=120, token_lifetime=900)))
    org = loop.run_until_complete(registry.update_org(ORG, OrgChanges(token_lifetime=None)))
    assert (org.policy.max_assertion_lifetime, org.policy.token_lifetime) == (120, None)


def test_a_value_the_store_refuses_is_invalid_input(
    registry: RegistryService, stores: Stores, loop: asyncio.AbstractEventLoop
) -> None:
    """The stores keep their own integrity checks; their refusal reaches every entry as invalid_input."""
    # A model altered after its checks ran (a caller bypassing them): the store still refuses.
    bypass = OrgInput(org_id=ORG)
    object.__setattr__(bypass, "algorithms", ("RS256", ""))
    with pytest.raises(InvalidInput, match="algorithms"):
        loop.run_until_complete(registry.add_org(bypass))
    assert loop.run_until_complete(stores.trust.get_org(ORG)) is None


def test_unknown_things_are_not_found(registry: RegistryService, loop: asyncio.AbstractEventLoop) -> None:
    for call in (registry.get_org(ORG), registry.get_app("nobody"), registry.list_certificates(ORG)):
        with pytest.raises(NotFound):
            loop.run_until_complete(call)
