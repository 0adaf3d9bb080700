"""A single-use decision (a grant, a JWT sent directly) is made against the registry as the worker has it
cached and written only if the registry is still at that generation (decision 0036): no generation read
of its own, and another worker's registry change still applies to the very next request."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from forcegate.clock import FixedClock
from forcegate.core.access_token import new_signing_key
from forcegate.core.grant import TokenGrant, token_request
from forcegate.errors import ForcegateError, InsufficientScope, OrgDisabled
from forcegate.server.endpoints.hot import ME_ENDPOINT as ME
from forcegate.service.authentication import AuthenticationService
from forcegate.settings import Settings
from forcegate.stores import Org as OrgRecord
from forcegate.stores import SigningKey, Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.sqlite import open_sqlite_stores
from server.live import JWT_BEARER_GRANT, ORG_ID, Org, make_org
from stores.stores_support import run

OTHER_ORG = "00D000000000002EAA"
PUBLIC_URL = "https://forcegate.example"


@pytest.fixture
def stores(tmp_path: Path, clock: FixedClock) -> Iterator[Stores]:
    handle = run(open_sqlite_stores(str(tmp_path / "db.sqlite"), box=SecretBox(os.urandom(32))))
    private_key, kid = new_signing_key()
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    run(handle.keys.add_signing_key(SigningKey(kid=kid, algorithm="ES256", private_pem=pem, created_at=clock.now())))
    yield handle
    run(handle.close())


def worker(stores: Stores, tmp_path: Path, clock: FixedClock, name: str = "one") -> AuthenticationService:
    """One worker's service on the shared stores (its own caches)."""
    settings = Settings(data_dir=tmp_path / name, public_url=PUBLIC_URL, token_rate_limit=100)
    return AuthenticationService(settings, stores, clock=clock)


def register(stores: Stores, org: Org) -> None:
    run(stores.trust.add_org(OrgRecord(org_id=org.org_id, scopes=("api",))))
    run(stores.trust.add_certificate(org.org_id, org.certificate))


def grant(service: AuthenticationService, org: Org) -> TokenGrant:
    form = {"grant_type": JWT_BEARER_GRANT, "assertion": org.assertion(service.settings.token_endpoint)}
    return run(service.token(token_request(form), client="127.0.0.1"))


def generation_reads(monkeypatch: pytest.MonkeyPatch, stores: Stores) -> list[int]:
    reads: list[int] = []
    read = stores.trust.generation

    async def counted() -> int:
        reads.append(1)
        return await read()

    monkeypatch.setattr(stores.trust, "generation", counted)
    return reads


def test_at_an_unchanged_registry_a_grant_and_a_direct_jwt_read_no_generation(
    stores: Stores, tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org(ORG_ID, rsa_key, clock)
    register(stores, org)
    service = worker(stores, tmp_path, clock)
    grant(service, org)  # the first request reads the registry and loads the keys
    reads = generation_reads(monkeypatch, stores)
    assert grant(service, org).identity.org_id == ORG_ID
    identity, credential = run(
        service.authenticate_bearer(org.assertion(service.settings.token_endpoint), endpoint=ME, client=None)
    )
    assert (identity.org_id, credential) == (ORG_ID, "jwt")
    assert reads == []


def test_another_workers_change_applies_to_the_next_grant(
    stores: Stores, tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org(ORG_ID, rsa_key, clock)
    register(stores, org)
    one = worker(stores, tmp_path, clock)
    assert grant(one, org).response["scope"] == "api"
    issued = len(run(stores.audit.query()))
    # Another worker (or the CLI) changes the org: this worker's cache still holds the old entry, its
    # grant is decided on it, and its write finds the registry moved: decided again, on the new entry.
    run(stores.trust.update_org(ORG_ID, scopes=["api", "refresh"]))
    assert grant(one, org).response["scope"] == "api refresh"
    run(stores.trust.update_org(ORG_ID, enabled=False))
    with pytest.raises(OrgDisabled):
        grant(one, org)
    assertion = org.assertion(one.settings.token_endpoint)
    with pytest.raises(OrgDisabled):
        run(one.authenticate_bearer(assertion, endpoint=ME, client=None))
    # The refused decisions wrote nothing: one more token (the re-decided one) and no claim of the
    # refused assertion, which is granted once the org is enabled again.
    assert len(run(stores.audit.query())) == issued + 1
    run(stores.trust.update_org(ORG_ID, enabled=True))
    assert run(one.authenticate_bearer(assertion, endpoint=ME, client=None))[1] == "jwt"


def test_an_org_another_worker_just_registered_is_granted_on_its_first_request(
    stores: Stores, tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # each org its own certificate
    known, newcomer = make_org(ORG_ID, rsa_key, clock), make_org(OTHER_ORG, own_key, clock, cn="newcomer")
    register(stores, known)
    one = worker(stores, tmp_path, clock)
    grant(one, known)
    with pytest.raises(ForcegateError):
        grant(one, newcomer)  # unknown here: the worker's cache now remembers it as unknown
    register(stores, newcomer)
    # The cached refusal is not the answer: the registry moved since, so it is decided again.
    assert grant(one, newcomer).identity.org_id == OTHER_ORG


def test_a_refusal_at_an_unchanged_registry_stands_after_one_generation_read(
    stores: Stores, tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    known, stranger = make_org(ORG_ID, rsa_key, clock), make_org(OTHER_ORG, rsa_key, clock, cn="stranger")
    register(stores, known)
    one = worker(stores, tmp_path, clock)
    grant(one, known)
    reads = generation_reads(monkeypatch, stores)
    with pytest.raises(ForcegateError):
        grant(one, stranger)
    assert reads == [1]


def test_a_direct_jwt_is_audited_with_its_claim_and_one_refused_for_its_scopes_stays_unused(
    stores: Stores, tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    org = make_org(ORG_ID, rsa_key, clock)
    register(stores, org)
    service = worker(stores, tmp_path, clock)
    assertion = org.assertion(service.settings.token_endpoint)
    with pytest.raises(InsufficientScope):
        run(service.authenticate_bearer(assertion, endpoint=ME, client="10.0.0.1", scopes=("admin",)))
    assert run(stores.audit.query()) == []
    identity, credential = run(service.authenticate_bearer(assertion, endpoint=ME, client="10.0.0.1", scopes=("api",)))
    assert (identity.org_id, credential) == (ORG_ID, "jwt")
    [row] = run(stores.audit.query())
    assert (row.endpoint, row.credential, row.result, row.client, row.org_id) == (
        ME,
        "jwt",
        "allowed",
        "10.0.0.1",
        ORG_ID,
    )
    with pytest.raises(ForcegateError, match="replay"):
        run(service.authenticate_bearer(assertion, endpoint=ME, client="10.0.0.1"))
    assert len(run(stores.audit.query())) == 1
