"""``failure_rate_limit`` at the ``/enroll`` entries, over real HTTP: the proof of possession, the sign-in
callback, the uploads, and enrollment from a Canvas app (decision 0013 §3, through
:func:`forcegate.service.failure_bound.bounded`).

Refusals count per (client address, claimed org) and minute — the proof's claimed org being its
enrollment's when its code names one — and past the bound a refusal is answered 429 with
``Retry-After``; a step that succeeds is never refused for it. The pair is the token endpoint's too:
junk spread over the doors adds up.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools import SalesforceEmulator, build_envelope, running_emulator, sign_envelope
from forcegate.registry import Actor, RegistryService
from forcegate.registry.enrollment import StartedEnrollment
from forcegate.stores import open_stores
from server.live import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    JWT_BEARER_GRANT,
    ORG_ID,
    OTHER_ORG_ID,
    LiveServer,
    Org,
    make_org,
    start_server,
)

LIMIT = 4
OFFSET = 10  # the tests start 10 s into a minute: a 429 says to retry in 50 s
RETRY_AFTER = str(60 - OFFSET)
ADMIN_ID, ADMIN = "0055g00000AbCdEAAV", "admin@acme.example"


class _ServeConfig(uvicorn.Config):
    """uvicorn as ``forcegate serve`` runs it (``proxy_headers=False``: the peer is the client)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **{**kwargs, "proxy_headers": False})


@pytest.fixture
def instance() -> Iterator[tuple[SalesforceEmulator, str]]:
    emulator = SalesforceEmulator()
    emulator.add_user(ORG_ID, ADMIN_ID, ADMIN, permissions=("CustomizeApplication",))
    with running_emulator(emulator) as origin:
        yield emulator, origin


@pytest.fixture
def server(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, instance: tuple[SalesforceEmulator, str]
) -> Iterator[LiveServer]:
    monkeypatch.setattr(uvicorn, "Config", _ServeConfig)
    clock.set(math.floor(clock.now() / 60) * 60 + OFFSET)  # the whole test in one window
    instance[0].clock = clock
    live = start_server(
        tmp_path / "data",
        clock=clock,
        failure_rate_limit=LIMIT,
        enrollment_policy="auto",
        enrollment_canvas=True,
        canvas_instance_domains=(instance[1],),
        enrollment_client_id="3MVG9_enrollment_app",
        enrollment_client_secret="enrollment-client-secret-0123456789",
        enrollment_login_hosts=(instance[1],),
    )
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def org(clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> Org:
    return make_org(ORG_ID, rsa_key, clock)


def start_enrollment(server: LiveServer, org: Org) -> StartedEnrollment:
    async def go() -> StartedEnrollment:
        stores = await open_stores(server.settings)
        try:
            registry = RegistryService(stores, settings=server.settings, clock=server.clock)
            return await registry.enrollments.start(
                org_id=org.org_id, user_id=ADMIN_ID, username=ADMIN, certificate=org.certificate,
                actor=Actor(entry="/enroll/certificate", credential="salesforce-sign-in"),
            )  # fmt: skip
        finally:
            await stores.close()

    return asyncio.run(go())


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode("ascii")


def junk_proof(server: LiveServer, iss: str, code: str | None = None) -> httpx.Response:
    """An RS256 proof with a random signature: what anyone can write."""
    claims: dict[str, Any] = {"iss": iss, "sub": "mallory", "aud": server.url + "/enroll/proof", "exp": 4_000_000_000}
    if code is not None:
        claims["enrollment_code"] = code
    signature = base64.urlsafe_b64encode(os.urandom(256)).rstrip(b"=").decode("ascii")
    assertion = f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.{signature}"
    return httpx.post(server.url + "/enroll/proof", data={"assertion": assertion}, timeout=30)


def genuine_proof(server: LiveServer, org: Org, code: str) -> httpx.Response:
    assertion = org.assertion(server.url + "/enroll/proof", claims={"enrollment_code": code})
    return httpx.post(server.url + "/enroll/proof", data={"assertion": assertion}, timeout=30)


def bind_canvas_app(server: LiveServer) -> None:
    with server.admin() as admin:
        created = admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
        assert created.status_code == 201, created.text
        org = admin.post("/admin/api/v1/orgs", json={"org_id": ORG_ID, "apps": [CONSUMER_KEY]})
        assert org.status_code == 201, org.text


def canvas(server: LiveServer, instance: tuple[SalesforceEmulator, str], *, secret: str) -> httpx.Response:
    emulator, origin = instance
    envelope = build_envelope(
        org_id=ORG_ID,
        user_id=ADMIN_ID,
        user_name=ADMIN,
        instance_url=origin,
        oauth_token=emulator.issue_session_token(ORG_ID, ADMIN_ID),
        now=server.clock.now(),
    )
    return httpx.post(
        server.url + "/enroll/canvas", data={"signed_request": sign_envelope(envelope, secret)}, timeout=30
    )


# --- the proof of possession ------------------------------------------------------------------------


def test_junk_proofs_are_answered_429_past_the_bound(server: LiveServer) -> None:
    first = [junk_proof(server, ORG_ID) for _ in range(LIMIT)]
    assert [response.status_code for response in first] == [400] * LIMIT
    assert {response.json()["error"] for response in first} == {"invalid_grant"}
    limited = junk_proof(server, ORG_ID)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == RETRY_AFTER
    assert (limited.json()["error"], limited.json()["code"]) == ("slow_down", "rate_limited")
    server.clock.advance(int(RETRY_AFTER))
    assert junk_proof(server, ORG_ID).status_code == 400  # the next minute


def test_a_genuine_proof_passes_while_its_pair_is_over_the_bound(server: LiveServer, org: Org) -> None:
    started = start_enrollment(server, org)
    assert [junk_proof(server, ORG_ID).status_code for _ in range(LIMIT + 1)][-1] == 429
    proven = genuine_proof(server, org, started.code)
    assert proven.status_code == 200, proven.text
    assert proven.json()["state"] == "active"
    # Its replay is a refusal again: answered 429 while the pair is over the bound.
    assert genuine_proof(server, org, started.code).status_code == 429


def test_a_proof_counts_against_its_enrollments_org(server: LiveServer, org: Org) -> None:
    """Junk naming our enrollment's code is counted against our org, whatever ``iss`` it claims."""
    started = start_enrollment(server, org)
    wrong_code = started.enrollment.enrollment_id + ".AAAA"
    assert [junk_proof(server, OTHER_ORG_ID, wrong_code).status_code for _ in range(LIMIT)] == [400] * LIMIT
    assert junk_proof(server, ORG_ID).status_code == 429  # the enrollment's org: over the bound
    assert junk_proof(server, OTHER_ORG_ID).status_code == 400  # the org it claimed: untouched
    assert genuine_proof(server, org, started.code).json()["state"] == "active"


def test_the_pair_is_shared_with_the_token_endpoint(server: LiveServer) -> None:
    for _ in range(LIMIT):
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": "junk." + _b64({"iss": ORG_ID}) + ".sig"}
        assert httpx.post(server.token_endpoint, data=form, timeout=30).status_code == 400
    assert junk_proof(server, ORG_ID).status_code == 429


# --- the browser's entries ---------------------------------------------------------------------------


def test_callbacks_without_a_sign_in_are_bounded(server: LiveServer) -> None:
    url = server.url + "/enroll/callback?state=" + "A" * 43 + "&code=x"
    statuses = [httpx.get(url, timeout=30).status_code for _ in range(LIMIT + 1)]
    assert statuses == [400] * LIMIT + [429]
    limited = httpx.get(url, timeout=30)
    assert limited.headers["retry-after"] == RETRY_AFTER
    assert "frame-ancestors 'none'" in limited.headers["content-security-policy"]


def test_forged_canvas_sign_ins_are_bounded_and_a_genuine_one_passes(
    server: LiveServer, instance: tuple[SalesforceEmulator, str]
) -> None:
    bind_canvas_app(server)
    statuses = [canvas(server, instance, secret="not-the-consumer-secret-01").status_code for _ in range(LIMIT + 1)]
    assert statuses == [401] * LIMIT + [429]  # counted against the org the envelope claims
    limited = canvas(server, instance, secret="not-the-consumer-secret-01")
    assert limited.headers["retry-after"] == RETRY_AFTER
    assert "frame-ancestors 'self' https://*.salesforce.com" in limited.headers["content-security-policy"]
    assert canvas(server, instance, secret=CONSUMER_SECRET).status_code == 200
    assert junk_proof(server, ORG_ID).status_code == 429  # the same pair at the proof


def test_guessed_upload_tokens_are_bounded(server: LiveServer) -> None:
    form = {"upload_token": "cvs_" + "A" * 43, "certificate": "x"}
    statuses = [
        httpx.post(server.url + "/enroll/canvas/certificate", data=form, timeout=30).status_code
        for _ in range(LIMIT + 1)
    ]
    assert statuses == [400] * LIMIT + [429]
