"""Rotating the access-token signing key on running servers, without restarting any.

``forcegate admin rotate-signing-key`` / ``retire-signing-key`` (run here as the operator would, beside
the servers) bump the registry generation; each server reloads its keys on its next request, before
it verifies or issues a token. On one server: a token from before the rotation keeps verifying, new
tokens carry the new kid, the JWKS lists both keys, and once the old key is retired its tokens are
refused. On two servers sharing one PostgreSQL deployment: a token the first signs with the new key
verifies on the second's very next request.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from forcegate.cli.main import cli
from forcegate.clock import FixedClock
from forcegate.core.access_token import new_signing_key
from forcegate.errors import InvalidAccessToken, OrgDisabled
from forcegate.server.endpoints.hot import ME_ENDPOINT as ME
from forcegate.service.authentication import AuthenticationService as Service
from forcegate.settings import Settings
from forcegate.stores import Org as OrgRecord
from forcegate.stores import ServiceKeyStore, SigningKey, Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.sqlite import open_sqlite_stores
from server.backends import shared_backend
from server.live import ORG_ID, LiveServer, Org, exchange, make_org, register_org, start_server
from stores.stores_support import NOW, ORG, identity, run


def kid_of(access_token: str) -> str:
    """The ``kid`` of an access token's header (read, not verified)."""
    head = access_token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])


def admin_command(environ: Mapping[str, str], *args: str) -> str:
    """Run ``forcegate admin ARGS`` against the servers' data (``environ``: its settings); its stdout."""
    result = CliRunner().invoke(cli, ["admin", *args], env=dict(environ), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def me(url: str, token: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as client:
        return client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})


def jwks_kids(url: str) -> set[str]:
    with httpx.Client(base_url=url, timeout=30) as client:
        response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return {key["kid"] for key in response.json()["keys"]}


def new_token(server: LiveServer, org: Org) -> str:
    # The audience is the public token endpoint: servers behind one load balancer share it.
    response = exchange(server, org.assertion(server.settings.token_endpoint))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_rotate_and_retire_on_a_running_server(live_server: LiveServer, registered: Org, tmp_path: Path) -> None:
    environ = {"FORCEGATE_DATA_DIR": str(tmp_path / "data")}
    before = new_token(live_server, registered)
    old_kid = kid_of(before)
    assert me(live_server.url, before).status_code == 200  # verified once: in the verifier's cache now
    assert jwks_kids(live_server.url) == {old_kid}

    new_kid = admin_command(environ, "rotate-signing-key")
    assert new_kid != old_kid
    # The very next request: the token from before the rotation still verifies ...
    assert me(live_server.url, before).status_code == 200
    # ... new tokens carry the new kid, and verify too ...
    after = new_token(live_server, registered)
    assert kid_of(after) == new_kid
    assert me(live_server.url, after).status_code == 200
    # ... and the JWKS publishes both keys.
    assert jwks_kids(live_server.url) == {old_kid, new_kid}

    admin_command(environ, "retire-signing-key", old_kid)
    refused = me(live_server.url, before)
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers["www-authenticate"]
    assert me(live_server.url, after).status_code == 200
    assert jwks_kids(live_server.url) == {new_kid}
    with live_server.admin() as admin:
        assert admin.post("/oauth2/introspect", data={"token": before}).json() == {"active": False}
        assert admin.post("/oauth2/introspect", data={"token": after}).json()["active"] is True


@pytest.fixture(params=[False, True], ids=["postgresql", "postgresql+redis"])
def two_servers(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[tuple[LiveServer, LiveServer, dict[str, str]]]:
    """Two in-process servers on one deployment, and the CLI's environment for it: on PostgreSQL alone
    and beside Redis (whose token store reads the records and revocations in PostgreSQL, 0032)."""
    with shared_backend(with_redis=request.param) as backend, ExitStack() as stack:
        first = start_server(tmp_path / "a", clock=clock, **backend.settings())
        stack.callback(first.stop)
        second = start_server(tmp_path / "b", clock=clock, public_url=first.url, **backend.settings())
        stack.callback(second.stop)
        yield first, second, {**backend.environ(), "FORCEGATE_DATA_DIR": str(tmp_path / "cli")}


def test_a_token_signed_with_the_new_key_on_one_server_verifies_on_the_next_request_of_another(
    two_servers: tuple[LiveServer, LiveServer, dict[str, str]], rsa_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    a, b, environ = two_servers
    org = make_org(ORG_ID, rsa_key, clock)
    register_org(a.url, a.admin_token, org)
    before = new_token(b, org)
    old_kid = kid_of(before)
    assert me(b.url, before).status_code == 200  # b has loaded its keys and seen the registry as it was

    new_kid = admin_command(environ, "rotate-signing-key")
    signed_by_a = new_token(a, org)
    assert kid_of(signed_by_a) == new_kid
    # b's very next request: it notices the rotation before verifying.
    assert me(b.url, signed_by_a).status_code == 200
    assert me(a.url, before).status_code == 200
    assert jwks_kids(b.url) == {old_kid, new_kid}

    admin_command(environ, "retire-signing-key", old_kid)
    assert me(b.url, before).status_code == 401
    assert me(a.url, before).status_code == 401
    assert me(b.url, signed_by_a).status_code == 200


# --- the reload itself ---------------------------------------------------------------------------------


class CountingKeys:
    """Wraps a ServiceKeyStore; counts key loads, each yielding to the event loop as a network store would."""

    def __init__(self, inner: ServiceKeyStore) -> None:
        self.inner = inner
        self.loads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def signing_keys(self) -> Sequence[SigningKey]:
        self.loads += 1
        await asyncio.sleep(0)
        return await self.inner.signing_keys()


def signing_key(at: float) -> SigningKey:
    private_key, kid = new_signing_key()
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return SigningKey(kid=kid, algorithm="ES256", private_pem=pem, created_at=at)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    handle = run(open_sqlite_stores(str(tmp_path / "db.sqlite"), box=SecretBox(os.urandom(32))))
    yield handle
    run(handle.close())


def test_keys_reload_once_and_only_when_the_generation_moves(stores: Stores, tmp_path: Path) -> None:
    first = signing_key(NOW)
    run(stores.keys.add_signing_key(first))
    keys = CountingKeys(stores.keys)
    service = Service(Settings(data_dir=tmp_path), dataclasses.replace(stores, keys=keys))  # type: ignore[arg-type]  # duck-typed
    run(service.load_signing_keys())
    verifier = service.access
    assert keys.loads == 1

    async def requests(count: int) -> None:
        await asyncio.gather(*(service.refresh() for _ in range(count)))

    run(requests(10))
    assert keys.loads == 1, "nothing changed: no reload"
    # A registry change that leaves the keys alone: one reload for ten concurrent requests, and the
    # verifier (with its cache of verified tokens) is kept.
    run(stores.trust.add_org(OrgRecord(org_id=ORG_ID)))
    run(requests(10))
    assert keys.loads == 2
    assert service.access is verifier
    # A rotation: one reload, a new verifier, the new key signs, both verify.
    second = signing_key(NOW + 10)
    run(stores.keys.add_signing_key(second))
    run(requests(10))
    assert keys.loads == 3
    assert service.access is not verifier
    published = service.jwks["keys"]
    assert isinstance(published, list)
    assert {key["kid"] for key in published} == {first.kid, second.kid}
    assert service.issuer is not None
    token, _ = service.issuer.issue(identity(), client_id=ORG_ID)
    assert kid_of(token) == second.kid


# --- the generation read with the token's lookup (decision 0031) -------------------------------------


def counted(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> list[int]:
    """Count the calls of ``target.name`` (an async method), each still made."""
    calls: list[int] = []
    method = getattr(target, name)

    async def call(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return await method(*args, **kwargs)

    monkeypatch.setattr(target, name, call)
    return calls


def test_an_api_call_on_sqlite_checks_the_generation_in_its_token_lookup(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(stores.keys.add_signing_key(signing_key(NOW)))
    run(stores.trust.add_org(OrgRecord(org_id=ORG)))
    service = Service(Settings(data_dir=tmp_path), stores)
    run(service.load_signing_keys())
    assert service.issuer is not None
    token, record = service.issuer.issue(identity(), client_id=ORG)
    run(stores.tokens.record_issued(record))
    generation_reads = counted(monkeypatch, stores.trust, "generation")
    lookups = counted(monkeypatch, stores.tokens, "check_issued")

    # Uncached: checked against its record; then cached: the revocation only.
    assert run(service.authenticate_bearer(token, endpoint=ME, client=None))[0].org_id == ORG
    assert run(service.authenticate_bearer(token, endpoint=ME, client=None))[0].org_id == ORG
    assert (len(generation_reads), len(lookups)) == (0, 2)
    # The lookup still is the generation check: a registry change made just before a call applies to it.
    run(stores.trust.update_org(ORG, enabled=False))
    with pytest.raises(OrgDisabled):
        run(service.authenticate_bearer(token, endpoint=ME, client=None))
    run(stores.trust.update_org(ORG, enabled=True))
    assert run(service.authenticate_bearer(token, endpoint=ME, client=None))[0].org_id == ORG
    assert len(generation_reads) == 0


def test_another_workers_rotation_and_retirement_apply_to_the_next_api_call(stores: Stores, tmp_path: Path) -> None:
    # Two services on one database: two workers. The second rotates and signs with a key the first
    # has not loaded (its lookup of the new kid fails until it reads the generation), then retires the
    # old key: the first refuses a token of it it had verified (and cached) before.
    first_key, second_key = signing_key(NOW), signing_key(NOW + 10)
    run(stores.keys.add_signing_key(first_key))
    run(stores.trust.add_org(OrgRecord(org_id=ORG)))
    one = Service(Settings(data_dir=tmp_path / "one"), stores)
    other = Service(Settings(data_dir=tmp_path / "other"), stores)
    run(one.load_signing_keys())
    assert one.issuer is not None
    old, old_record = one.issuer.issue(identity(), client_id=ORG)
    run(stores.tokens.record_issued(old_record))
    assert run(one.authenticate_bearer(old, endpoint=ME, client=None))[0].org_id == ORG

    run(stores.keys.add_signing_key(second_key))
    run(other.load_signing_keys())
    assert other.issuer is not None
    new, new_record = other.issuer.issue(identity(), client_id=ORG)
    run(stores.tokens.record_issued(new_record))
    assert kid_of(new) == second_key.kid
    assert run(one.authenticate_bearer(new, endpoint=ME, client=None))[0].org_id == ORG
    assert run(one.authenticate_bearer(old, endpoint=ME, client=None))[0].org_id == ORG

    run(stores.keys.retire_signing_key(first_key.kid))
    with pytest.raises(InvalidAccessToken, match="kid"):
        run(one.authenticate_bearer(old, endpoint=ME, client=None))
    assert run(one.authenticate_bearer(new, endpoint=ME, client=None))[0].org_id == ORG
