"""RegistryVerifier on the scale-out stores: PostgreSQL (asyncpg, whose pool belongs to the verifier's
loop) and Redis (sessions, replay claims), shared with a live service. Sync calls from worker threads
and async calls from other loops use the one pool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.resource import Refusal, RegistryVerifier
from server.backends import shared_backend
from server.live import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    ORG_ID,
    USER_ID,
    LiveServer,
    Org,
    exchange,
    make_org,
    register_org,
    start_server,
)


@pytest.fixture
def scale_out(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Iterator[tuple[LiveServer, Org]]:
    clock = FixedClock(float(int(time.time())))
    with shared_backend() as backend:
        server = start_server(tmp_path / "data", clock=clock, **backend.settings())
        try:
            org = make_org(ORG_ID, rsa_key, clock)
            register_org(server.url, server.admin_token, org, scopes=("api", "orders:read"))
            with server.admin() as admin:
                created = admin.post(
                    "/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET}
                )
                assert created.status_code == 201, created.text
                assert admin.patch(f"/admin/api/v1/orgs/{ORG_ID}", json={"apps": [CONSUMER_KEY]}).status_code == 200
            yield server, org
        finally:
            server.stop()


def test_tokens_jwts_and_sessions_on_postgresql_and_redis(scale_out: tuple[LiveServer, Org]) -> None:
    server, org = scale_out
    verifier = RegistryVerifier(server.settings, clock=server.clock)
    try:
        tokens = []
        for _ in range(3):
            response = exchange(server, org.assertion(server.settings.token_endpoint))
            assert response.status_code == 200, response.text
            tokens.append(response.json()["access_token"])
        with ThreadPoolExecutor(8) as pool:
            found = list(pool.map(lambda n: verifier.verify(f"Bearer {tokens[n % 3]}", scopes=["api"]), range(24)))
        assert {identity.user_id for identity in found} == {USER_ID}

        async def from_another_loop() -> None:
            identities = await asyncio.gather(*(verifier.averify(f"Bearer {token}") for token in tokens))
            assert {identity.org_id for identity in identities} == {ORG_ID}

        asyncio.run(from_another_loop())
        asyncio.run(from_another_loop())

        assertion = org.assertion(server.settings.token_endpoint)
        assert verifier.verify(f"Bearer {assertion}").source == "jwt"
        with pytest.raises(Refusal) as replayed:
            verifier.verify(f"Bearer {assertion}")
        assert replayed.value.code == "assertion_replayed"

        envelope = build_envelope(org_id=ORG_ID, user_id=USER_ID)
        session = verifier.open_canvas_session({"signed_request": sign_envelope(envelope, CONSUMER_SECRET)})
        assert verifier.verify(None, session=session.session_id).source == "canvas"
        with server.client() as browser:  # the session lives in Redis: the service sees it too
            browser.cookies.set("forcegate_session", session.session_id)
            assert browser.get("/api/v1/me").status_code == 200
    finally:
        verifier.close()
