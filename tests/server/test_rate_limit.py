"""``token_rate_limit`` over real HTTP: a per-org budget of single-use assertions per one-minute window.

Token requests and direct-JWT calls spend the same budget, counted only for assertions that verified
(forged ones spend nothing) and before the single-use claim (a refused assertion is still unused).
Over the limit: 429 ``slow_down`` with ``Retry-After``, audited as ``rate_limited``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from server.backends import shared_backend
from server.live import ORG_ID, OTHER_ORG_ID, LiveServer, Org, exchange, make_org, register_org, start_server

LIMIT = 3


def _me(server: LiveServer, token: str) -> httpx.Response:
    with server.client() as client:
        return client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})


def _retry_after(clock: FixedClock) -> str:
    return str(max(1, math.ceil(60 - clock.now() % 60)))


def _audit_codes(server: LiveServer, org_id: str) -> list[str]:
    with server.admin() as admin:
        response = admin.get("/admin/api/v1/audit", params={"org": org_id, "limit": 100})
    assert response.status_code == 200, response.text
    return [event["code"] for event in response.json() if event["result"] == "denied"]


@pytest.fixture
def limited(tmp_path: Path, clock: FixedClock) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "data", clock=clock, token_rate_limit=LIMIT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def orgs(limited: LiveServer, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> tuple[Org, Org]:
    first, second = make_org(ORG_ID, rsa_key, limited.clock), make_org(OTHER_ORG_ID, other_rsa_key, limited.clock)
    register_org(limited.url, limited.admin_token, first)
    register_org(limited.url, limited.admin_token, second)
    return first, second


def test_the_token_endpoint_refuses_an_org_over_its_limit_until_the_next_window(
    limited: LiveServer, orgs: tuple[Org, Org]
) -> None:
    org, other = orgs
    clock = limited.clock
    clock.set(math.floor(clock.now() / 60) * 60 + 45)  # 15 s before the window ends
    for _ in range(LIMIT):
        assert exchange(limited, org.assertion(limited.token_endpoint)).status_code == 200
    refused_assertion = org.assertion(limited.token_endpoint)
    refused = exchange(limited, refused_assertion)
    assert refused.status_code == 429, refused.text
    assert (refused.json()["error"], refused.json()["code"]) == ("slow_down", "rate_limited")
    assert refused.headers["retry-after"] == "15" == _retry_after(clock)
    assert refused.headers["cache-control"] == "no-store"
    # Another org has a budget of its own.
    assert exchange(limited, other.assertion(limited.token_endpoint)).status_code == 200
    assert "rate_limited" in _audit_codes(limited, org.org_id)
    assert "rate_limited" not in _audit_codes(limited, other.org_id)

    clock.advance(60)  # the next window
    # The refused assertion was not consumed: still valid, it is accepted now, and only once.
    assert exchange(limited, refused_assertion).status_code == 200
    assert exchange(limited, refused_assertion).json() == {"error": "invalid_grant"}
    assert exchange(limited, org.assertion(limited.token_endpoint)).status_code == 200
    # The replay above spent nothing (whoever holds a used assertion cannot burn the org's budget):
    # one more of the window's budget (3) is left, then it is spent.
    assert exchange(limited, org.assertion(limited.token_endpoint)).status_code == 200
    assert exchange(limited, org.assertion(limited.token_endpoint)).status_code == 429


def test_forged_assertions_spend_no_budget(
    limited: LiveServer, orgs: tuple[Org, Org], other_rsa_key: rsa.RSAPrivateKey
) -> None:
    org, _ = orgs
    impostor = make_org(org.org_id, other_rsa_key, limited.clock)  # names the org, signs with another key
    for _ in range(2 * LIMIT):
        forged = exchange(limited, impostor.assertion(limited.token_endpoint))
        assert forged.json() == {"error": "invalid_grant"}
    for _ in range(LIMIT):
        assert exchange(limited, org.assertion(limited.token_endpoint)).status_code == 200


def test_direct_jwts_share_the_budget(limited: LiveServer, orgs: tuple[Org, Org]) -> None:
    org, _ = orgs
    assert exchange(limited, org.assertion(limited.token_endpoint)).status_code == 200
    for _ in range(LIMIT - 1):
        assert _me(limited, org.assertion(limited.url)).status_code == 200
    jwt = org.assertion(limited.url)
    refused = _me(limited, jwt)
    assert refused.status_code == 429, refused.text
    assert (refused.json()["error"], refused.json()["code"]) == ("slow_down", "rate_limited")
    assert refused.headers["www-authenticate"] == 'Bearer realm="forcegate", error="slow_down"'
    assert refused.headers["retry-after"] == _retry_after(limited.clock)
    assert exchange(limited, org.assertion(limited.token_endpoint)).status_code == 429
    # An access token is not an assertion: calls with one are not limited.
    limited.clock.advance(60)
    access = exchange(limited, org.assertion(limited.token_endpoint)).json()["access_token"]
    for _ in range(LIMIT + 1):
        assert _me(limited, access).status_code == 200
    assert _me(limited, jwt).status_code == 200  # not consumed by the refusal
    assert _me(limited, jwt).status_code == 401  # and single use as ever
    assert _audit_codes(limited, org.org_id).count("rate_limited") == 2


def test_no_limit_when_set_to_zero(tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> None:
    server = start_server(tmp_path / "data", clock=clock, token_rate_limit=0)
    try:
        org = make_org(ORG_ID, rsa_key, clock)
        register_org(server.url, server.admin_token, org)
        for _ in range(10):
            assert exchange(server, org.assertion(server.token_endpoint)).status_code == 200
    finally:
        server.stop()


def test_the_limit_is_shared_by_servers_of_one_deployment(
    tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    with shared_backend() as backend, ExitStack() as stack:
        settings = {**backend.settings(), "token_rate_limit": LIMIT}
        a = start_server(tmp_path / "a", clock=clock, **settings)
        stack.callback(a.stop)
        b = start_server(tmp_path / "b", clock=clock, public_url=a.url, **settings)
        stack.callback(b.stop)
        org = make_org(ORG_ID, rsa_key, clock)
        register_org(a.url, a.admin_token, org)
        clock.set(math.floor(clock.now() / 60) * 60 + 1)  # the whole test in one window
        assert exchange(a, org.assertion(a.token_endpoint)).status_code == 200
        assert exchange(b, org.assertion(a.token_endpoint)).status_code == 200
        assert exchange(a, org.assertion(a.token_endpoint)).status_code == 200
        # Three hits in all: each server refuses the fourth.
        assert exchange(b, org.assertion(a.token_endpoint)).status_code == 429
        assert _me(a, org.assertion(a.url)).status_code == 429
        clock.advance(60)
        assert exchange(b, org.assertion(a.token_endpoint)).status_code == 200
