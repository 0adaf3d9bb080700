"""Fixtures of the resource tests: a live forcegate service (in-process uvicorn on a free 127.0.0.1 port)
with a registered org, and its access tokens obtained through the JWT-bearer grant."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from server.live import ORG_ID, LiveServer, Org, exchange, make_org, register_org, start_server


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(float(int(time.time())))


@pytest.fixture
def live_server(tmp_path: Path, clock: FixedClock) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "data", clock=clock)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registered(live_server: LiveServer, rsa_key: rsa.RSAPrivateKey, clock: FixedClock) -> Org:
    """An org registered with scopes ``api`` and ``orders:read``, its certificate trusted."""
    org = make_org(ORG_ID, rsa_key, clock)
    register_org(live_server.url, live_server.admin_token, org, scopes=("api", "orders:read"))
    return org


@pytest.fixture
def new_token(live_server: LiveServer, registered: Org) -> Callable[[], str]:
    """An access token of the live service, as Apex gets one (``Auth.JWTBearerTokenExchange``)."""

    def issue() -> str:
        response = exchange(live_server, registered.assertion(live_server.settings.token_endpoint))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return issue
