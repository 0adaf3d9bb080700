"""Fixtures of the Django and DRF integration tests: a live forcegate service (in-process uvicorn on a free
127.0.0.1 port) with a registered org and Canvas app, its tokens, and verifiers pointed at it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings

from django_live import Service
from forcegate.clock import FixedClock
from forcegate.resource import JWKSVerifier, RegistryVerifier
from server.live import CONSUMER_KEY, CONSUMER_SECRET, ORG_ID, make_org, register_org, start_server


@pytest.fixture
def service(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> Iterator[Service]:
    clock = FixedClock(float(int(time.time())))
    server = start_server(tmp_path_factory.mktemp("forcegate") / "data", clock=clock)
    try:
        org = make_org(ORG_ID, rsa_key, clock)
        register_org(server.url, server.admin_token, org, scopes=("api", "orders:read"))
        with server.admin() as admin:
            app = {"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET}
            assert admin.post("/admin/api/v1/apps", json=app).status_code == 201
            assert admin.patch(f"/admin/api/v1/orgs/{ORG_ID}", json={"apps": [CONSUMER_KEY]}).status_code == 200
        yield Service(server, org, clock)
    finally:
        server.stop()


@pytest.fixture
def jwks(service: Service) -> Iterator[JWKSVerifier]:
    """The Django project verifies with the service's JWKS (FORCEGATE = {"VERIFIER": …})."""
    verifier = JWKSVerifier(service.server.url, clock=service.clock)
    try:
        with override_settings(FORCEGATE={"VERIFIER": verifier}):
            yield verifier
    finally:
        verifier.close()


@pytest.fixture
def registry(service: Service) -> Iterator[RegistryVerifier]:
    """The Django project shares the service's registry, and opens Canvas sessions in it."""
    verifier = RegistryVerifier(service.server.settings, clock=service.clock)
    try:
        with override_settings(FORCEGATE={"VERIFIER": verifier, "CANVAS_LANDING_URL": "/app"}):
            yield verifier
    finally:
        verifier.close()
