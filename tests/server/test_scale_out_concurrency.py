"""Correct under concurrency, on the real PostgreSQL + Redis: several servers, one deployment.

Each test runs servers that share one fresh PostgreSQL schema and one Redis key prefix, as workers on
several hosts behind a load balancer would (same public URL). Covered: the same assertion posted at
once to several servers yields exactly one access token; a revocation on one is honoured by the
others on the very next request; registry changes made through one are seen by all without restart
— for in-process servers and for separate ``forcegate serve`` processes.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from private_servers import free_port
from server.backends import shared_backend
from server.live import ORG_ID, LiveServer, Org, get_me, make_org, post_token, register_org, start_server
from server.serve_process import ServeProcess

SERVE_TIMEOUT = 30.0


def _race(urls: Sequence[str], assertions: Sequence[str], copies: int) -> dict[str, list[int]]:
    """Post every assertion ``copies`` times to every URL, all at once; the statuses per assertion."""
    jobs = [(url, assertion) for assertion in assertions for url in urls for _ in range(copies)]
    with ThreadPoolExecutor(max_workers=min(32, len(jobs))) as pool:
        responses = list(pool.map(lambda job: post_token(*job), jobs))
    statuses: dict[str, list[int]] = collections.defaultdict(list)
    for (_, assertion), response in zip(jobs, responses, strict=True):
        statuses[assertion].append(response.status_code)
        if response.status_code != 200:
            assert response.json()["error"] == "invalid_grant", response.text
    return statuses


def _exactly_one_token_each(statuses: dict[str, list[int]]) -> None:
    for assertion, codes in statuses.items():
        assert sorted(codes) == [200] + [400] * (len(codes) - 1), (assertion[-12:], codes)


def _check_revocation_and_registry(a: str, b: str, admin_token: str, org: Org, audience: str) -> None:
    token = post_token(a, org.assertion(audience)).json()["access_token"]
    assert get_me(b, token).status_code == 200
    with httpx.Client(base_url=a, headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as admin:
        assert admin.post("/oauth2/revoke", data={"token": token}).status_code == 200
        # The very next request, on the other server: refused.
        assert get_me(b, token).status_code == 401
        fresh = post_token(b, org.assertion(audience)).json()["access_token"]
        assert get_me(a, fresh).status_code == 200
        # A registry change through one server (disable the org) is seen by the other at once ...
        assert admin.patch(f"/admin/api/v1/orgs/{org.org_id}", json={"enabled": False}).status_code == 200
        assert get_me(b, fresh).status_code == 401
        refused = post_token(b, org.assertion(audience))
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
        # ... and so is undoing it.
        assert admin.patch(f"/admin/api/v1/orgs/{org.org_id}", json={"enabled": True}).status_code == 200
        assert get_me(b, fresh).status_code == 200


# --- in-process servers ------------------------------------------------------------------------------


@pytest.fixture
def two_servers(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[LiveServer, LiveServer]]:
    with shared_backend() as backend, ExitStack() as stack:
        first = start_server(tmp_path / "a", clock=clock, **backend.settings())
        stack.callback(first.stop)
        second = start_server(tmp_path / "b", clock=clock, public_url=first.url, **backend.settings())
        stack.callback(second.stop)
        assert first.admin_token
        assert not second.admin_token  # one deployment: bootstrapped once
        yield first, second


def test_the_same_assertion_at_two_servers_at_once_yields_one_token(
    two_servers: tuple[LiveServer, LiveServer], rsa_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    a, b = two_servers
    org = make_org(ORG_ID, rsa_key, clock)
    register_org(a.url, a.admin_token, org)
    assertions = [org.assertion(a.token_endpoint) for _ in range(25)]
    statuses = _race([a.url, b.url], assertions, copies=2)
    _exactly_one_token_each(statuses)


def test_revocation_and_registry_changes_reach_every_server(
    two_servers: tuple[LiveServer, LiveServer], rsa_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    a, b = two_servers
    org = make_org(ORG_ID, rsa_key, clock)
    register_org(a.url, a.admin_token, org)
    _check_revocation_and_registry(a.url, b.url, a.admin_token, org, a.token_endpoint)


# --- separate `forcegate serve` processes ------------------------------------------------------------


def test_two_serve_processes_share_one_deployment(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    with shared_backend() as backend, ExitStack() as stack:
        port_a, port_b = free_port(), free_port()
        public = f"http://127.0.0.1:{port_a}"
        a = ServeProcess(backend, tmp_path / "a", port=port_a, public_url=public)
        stack.callback(a.stop)
        b = ServeProcess(backend, tmp_path / "b", port=port_b, public_url=public, workers=2)
        stack.callback(b.stop)
        admin_token = a.admin_token()
        # The org emulator runs on the real clock here: the servers do.
        org = make_org(ORG_ID, rsa_key, FixedClock(time.time()))
        register_org(a.url, admin_token, org)
        assertions = [org.assertion(public + "/oauth2/token") for _ in range(20)]
        _exactly_one_token_each(_race([a.url, b.url], assertions, copies=2))
        _check_revocation_and_registry(a.url, b.url, admin_token, org, public + "/oauth2/token")
