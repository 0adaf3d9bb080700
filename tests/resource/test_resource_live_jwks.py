"""JWKSVerifier end to end: tokens a live forcegate service issued through the JWT-bearer grant, its JWKS
and its introspection endpoint over real HTTP, its key rotated by the operator's command."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner

from forcegate.cli.main import cli
from forcegate.clock import FixedClock
from forcegate.core.identity import Identity
from forcegate.resource import JWKSVerifier, Refusal
from server.live import LiveServer, Org, get_me


def kid_of(token: str) -> str:
    head = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])


@pytest.fixture
def verifier(live_server: LiveServer, clock: FixedClock) -> Iterator[JWKSVerifier]:
    made = JWKSVerifier(live_server.url, clock=clock)
    try:
        yield made
    finally:
        made.close()


def test_the_identity_is_the_one_the_service_gives(
    verifier: JWKSVerifier, live_server: LiveServer, new_token: Callable[[], str]
) -> None:
    token = new_token()
    identity = verifier.verify(f"Bearer {token}", scopes=["orders:read"])
    me = get_me(live_server.url, token)
    assert me.status_code == 200
    assert identity == Identity.from_dict(me.json())


def test_a_key_the_operator_rotates_to_is_fetched_when_a_token_names_it(
    verifier: JWKSVerifier, live_server: LiveServer, new_token: Callable[[], str], clock: FixedClock
) -> None:
    before = new_token()
    verifier.verify(f"Bearer {before}")
    result = CliRunner().invoke(
        cli, ["admin", "rotate-signing-key"], env={"FORCEGATE_DATA_DIR": str(live_server.settings.data_dir)}
    )
    assert result.exit_code == 0, result.output
    clock.advance(10)  # the refetch interval since the first fetch
    after = new_token()
    assert kid_of(after) != kid_of(before)
    assert verifier.verify(f"Bearer {after}").org_id == verifier.verify(f"Bearer {before}").org_id


def test_introspection_refuses_a_revoked_token_within_its_cache(
    live_server: LiveServer, new_token: Callable[[], str], clock: FixedClock
) -> None:
    verifier = JWKSVerifier(
        live_server.url, clock=clock, introspection_token=live_server.admin_token, introspection_cache=5
    )
    try:
        token = new_token()
        verifier.verify(f"Bearer {token}")
        with live_server.admin() as admin:
            assert admin.post("/oauth2/revoke", data={"token": token}).status_code == 200
        verifier.verify(f"Bearer {token}")  # remembered as active for introspection_cache seconds
        clock.advance(5)
        with pytest.raises(Refusal) as caught:
            verifier.verify(f"Bearer {token}")
        assert (caught.value.status, caught.value.code) == (401, "token_revoked")
        assert verifier.verify(f"Bearer {new_token()}").scopes == {"api", "orders:read"}
    finally:
        verifier.close()


def test_a_wrong_introspection_credential_is_a_server_error(
    live_server: LiveServer, new_token: Callable[[], str], clock: FixedClock
) -> None:
    verifier = JWKSVerifier(live_server.url, clock=clock, introspection_token="not-the-admin-token")
    try:
        with pytest.raises(Refusal) as caught:
            verifier.verify(f"Bearer {new_token()}")
        assert (caught.value.status, caught.value.body) == (500, {"error": "server_error"})
        assert caught.value.challenge is None
    finally:
        verifier.close()


def test_the_jwks_verifier_never_trusts_an_apex_jwt_sent_directly(
    verifier: JWKSVerifier, live_server: LiveServer, registered: Org
) -> None:
    # The service accepts a direct Apex JWT (it has the registry); a JWKS verifier does not.
    assertion = registered.assertion(live_server.settings.token_endpoint)
    assert get_me(live_server.url, assertion).status_code == 200
    with pytest.raises(Refusal) as caught:
        verifier.verify(f"Bearer {assertion}")
    assert caught.value.status == 401
