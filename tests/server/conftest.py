"""Fixtures of the server tests: a live server on an ephemeral port, the emulated org, a registered org."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from server.live import ORG_ID, LiveServer, Org, make_org, start_server


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
def org(rsa_key: rsa.RSAPrivateKey, clock: FixedClock) -> Org:
    return make_org(ORG_ID, rsa_key, clock)


@pytest.fixture
def registered(live_server: LiveServer, org: Org) -> Org:
    """``org`` registered with scopes ``api`` and ``orders:read``, and its certificate trusted."""
    with live_server.admin() as admin:
        response = admin.post(
            "/admin/api/v1/orgs", json={"org_id": org.org_id, "name": "Acme", "scopes": ["api", "orders:read"]}
        )
        assert response.status_code == 201, response.text
        response = admin.post(
            f"/admin/api/v1/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem}
        )
        assert response.status_code == 201, response.text
    return org
