"""The abuse limits over real HTTP: ``failure_rate_limit``, ``audit_unverified_limit``, ``trusted_proxies``.

Refusals are counted per (client address, claimed org) and minute; past ``failure_rate_limit`` a
refusal of the pair is answered 429 with ``Retry-After``, yet a credential that verifies always
passes (Apex callouts share Salesforce's addresses). The admin pair is refused before its token is
compared. Unverified refusals write at most ``audit_unverified_limit`` audit rows per (client, code)
and minute, then one summary row. The client address is the TCP peer's unless the peer is a trusted
proxy, whose ``X-Forwarded-For`` / ``Forwarded`` is then read right to left.

The servers here run as ``forcegate serve`` runs them, with uvicorn's ``proxy_headers`` off: uvicorn's
default trusts ``X-Forwarded-For`` from 127.0.0.1 (every test client) and rewrites the peer before
forcegate sees it.
"""

from __future__ import annotations

import base64
import json
import math
import os
import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.registry.views import iso
from server.live import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    JWT_BEARER_GRANT,
    ORG_ID,
    OTHER_ORG_ID,
    USER_ID,
    LiveServer,
    Org,
    start_server,
)

LIMIT = 4  # failure_rate_limit
AUDIT_LIMIT = 2  # audit_unverified_limit
OFFSET = 10  # the tests start 10 s into a minute: a 429 says to retry in 50 s
RETRY_AFTER = str(60 - OFFSET)
PEER = "127.0.0.1"
DOORS = ["token", "api", "canvas"]
#: How each door answers a junk credential (its own refusal, below the bound), and a genuine one.
REFUSED = {"token": 400, "api": 401, "canvas": 401}
ACCEPTED = {"token": 200, "api": 200, "canvas": 303}
SUMMARY = (
    "more unverified refusals from {client} in the minute after the first {written}: counted, not written one by one"
)

Headers = dict[str, str] | httpx.Headers


class _ServeConfig(uvicorn.Config):
    """uvicorn configured as ``forcegate serve`` configures it (``proxy_headers=False``)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **{**kwargs, "proxy_headers": False})


def _serve(tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> LiveServer:
    monkeypatch.setattr(uvicorn, "Config", _ServeConfig)
    clock.set(math.floor(clock.now() / 60) * 60 + OFFSET)  # the whole test in one window
    limits = {"failure_rate_limit": LIMIT, "audit_unverified_limit": AUDIT_LIMIT}
    return start_server(tmp_path / "data", clock=clock, **{**limits, **overrides})


@pytest.fixture
def live_server(tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The server of this module's tests (and of the ``registered`` fixture): limits set, no proxy trusted."""
    server = _serve(tmp_path, clock, monkeypatch)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxied(tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A server behind a trusted proxy on 127.0.0.1 (the test client plays the proxy)."""
    server = _serve(tmp_path, clock, monkeypatch, trusted_proxies=("127.0.0.1/32",))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def forwarding(tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """Behind a trusted proxy on 127.0.0.1, no limits: every refusal answered as itself and written."""
    server = _serve(
        tmp_path, clock, monkeypatch, trusted_proxies=("127.0.0.1/32",), failure_rate_limit=0, audit_unverified_limit=0
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tenant(live_server: LiveServer, registered: Org) -> Org:
    """Org A registered, its certificate trusted, and the Canvas app CONSUMER_KEY bound to it."""
    with _client(live_server, live_server.admin_token) as admin:
        created = admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
        assert created.status_code == 201, created.text
        bound = admin.patch(f"/admin/api/v1/orgs/{registered.org_id}", json={"apps": [CONSUMER_KEY]})
        assert bound.status_code == 200, bound.text
    return registered


# --- requests ------------------------------------------------------------------------------------


#: One TLS context for every client: httpx would load the CA bundle again for each (~70 ms).
_TLS = ssl.create_default_context()


def _client(server: LiveServer, token: str | None = None) -> httpx.Client:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=10, verify=_TLS)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode("ascii")


def _junk_jwt(org_id: str, audience: str, *, subject: str = "mallory@example.com") -> str:
    """An RS256 JWT naming ``org_id`` with a random signature: what anyone can write."""
    header = _b64({"alg": "RS256", "typ": "JWT"})
    payload = _b64({"iss": org_id, "sub": subject, "aud": audience, "exp": 4_000_000_000})
    return f"{header}.{payload}.{base64.urlsafe_b64encode(os.urandom(256)).rstrip(b'=').decode('ascii')}"


def _signed_request(org_id: str, secret: str) -> str:
    return sign_envelope(build_envelope(org_id=org_id, user_id=USER_ID, user_name="grace@example.com"), secret)


def _token(server: LiveServer, assertion: str, headers: Headers | None = None) -> httpx.Response:
    with _client(server) as client:
        return client.post(
            "/oauth2/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion}, headers=headers
        )


def _junk(server: LiveServer, door: str, org_id: str, headers: Headers | None = None) -> httpx.Response:
    """One junk credential claiming ``org_id`` at ``door``."""
    if door == "token":
        return _token(server, _junk_jwt(org_id, server.token_endpoint), headers)
    with _client(server) as client:
        if door == "api":
            with_bearer = httpx.Headers(headers)
            with_bearer["authorization"] = f"Bearer {_junk_jwt(org_id, server.url)}"
            return client.get("/api/v1/me", headers=with_bearer)
        assert door == "canvas"
        forged = _signed_request(org_id, "not-the-consumer-secret-01")
        return client.post("/canvas", data={"signed_request": forged}, headers=headers)


def _genuine(server: LiveServer, door: str, org: Org) -> httpx.Response:
    """One credential of ``org`` that verifies, at ``door``."""
    if door == "token":
        return _token(server, org.assertion(server.token_endpoint))
    with _client(server) as client:
        if door == "api":
            return client.get("/api/v1/me", headers={"authorization": f"Bearer {org.assertion(server.url)}"})
        assert door == "canvas"
        return client.post("/canvas", data={"signed_request": _signed_request(org.org_id, CONSUMER_SECRET)})


def _flood(server: LiveServer, door: str, org_id: str, count: int, headers: Headers | None = None) -> list[int]:
    return [_junk(server, door, org_id, headers).status_code for _ in range(count)]


def _admin_get(server: LiveServer, token: str, headers: Headers | None = None) -> httpx.Response:
    with _client(server, token) as client:
        return client.get("/admin/api/v1/orgs", headers=headers)


def _audit(server: LiveServer) -> list[dict[str, Any]]:
    """Every audit row, oldest first (the listing writes this process's queue first)."""
    with _client(server, server.admin_token) as admin:
        response = admin.get("/admin/api/v1/audit", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()))


def _summary(count: int, client: str) -> str:
    return f"{count} " + SUMMARY.format(client=client, written=AUDIT_LIMIT)


# --- a. b. the bound at each door ------------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
def test_the_refusal_after_the_limit_is_answered_429(live_server: LiveServer, tenant: Org, door: str) -> None:
    """``failure_rate_limit`` refusals answered as themselves; the next one is beyond it: 429."""
    first = [_junk(live_server, door, ORG_ID) for _ in range(LIMIT)]
    assert [response.status_code for response in first] == [REFUSED[door]] * LIMIT
    if door == "token":
        assert [response.json() for response in first] == [{"error": "invalid_grant"}] * LIMIT
    beyond = _junk(live_server, door, ORG_ID)
    assert beyond.status_code == 429, f"refusal {LIMIT + 1} of the pair answered {beyond.status_code}"


@pytest.mark.parametrize("door", DOORS)
def test_a_limited_pair_is_told_when_to_retry_and_then_answered_again(
    live_server: LiveServer, tenant: Org, door: str
) -> None:
    statuses = _flood(live_server, door, ORG_ID, LIMIT + 2)
    assert statuses[0] == REFUSED[door]
    assert statuses[-1] == 429
    limited = _junk(live_server, door, ORG_ID)
    assert limited.status_code == 429
    assert limited.headers.get("retry-after") == RETRY_AFTER, f"429 at {door} without Retry-After"
    assert limited.headers["cache-control"] == "no-store"
    if door != "canvas":
        body = limited.json()
        assert (body["error"], body["code"]) == ("slow_down", "rate_limited")
        assert f"{LIMIT} failed attempts in a minute from {PEER} for org {ORG_ID}" in body["error_description"]
    if door == "api":
        assert limited.headers["www-authenticate"] == 'Bearer realm="forcegate", error="slow_down"'
    live_server.clock.advance(int(RETRY_AFTER) - 1)
    assert _junk(live_server, door, ORG_ID).status_code == 429
    live_server.clock.advance(1)  # Retry-After has passed: the next minute
    assert _junk(live_server, door, ORG_ID).status_code == REFUSED[door]


@pytest.mark.parametrize("door", DOORS)
def test_only_refusals_of_the_pair_are_limited(live_server: LiveServer, tenant: Org, door: str) -> None:
    """A verified org is never throttled by its shared address; junk for another org is not limited."""
    assert _flood(live_server, door, ORG_ID, LIMIT + 2)[-1] == 429
    genuine = _genuine(live_server, door, tenant)
    assert genuine.status_code == ACCEPTED[door], genuine.text
    assert _junk(live_server, door, ORG_ID).status_code == 429  # a success does not reset the count
    assert _junk(live_server, door, OTHER_ORG_ID).status_code == REFUSED[door]
    assert _genuine(live_server, door, tenant).status_code == ACCEPTED[door]


def test_the_pair_is_counted_across_doors(live_server: LiveServer, tenant: Org) -> None:
    """The key is (client, claimed org), not the endpoint: junk spread over the doors adds up."""
    statuses = [_junk(live_server, DOORS[n % 3], ORG_ID).status_code for n in range(LIMIT + 1)]
    assert statuses[: LIMIT - 1] == [REFUSED[DOORS[n % 3]] for n in range(LIMIT - 1)]
    assert [_junk(live_server, door, ORG_ID).status_code for door in DOORS] == [429, 429, 429]


# --- c. the admin credential -----------------------------------------------------------------------


def test_after_limit_wrong_admin_tokens_the_right_one_is_refused_too(live_server: LiveServer) -> None:
    wrong = [_admin_get(live_server, "not-the-admin-token") for _ in range(LIMIT)]
    assert [response.status_code for response in wrong] == [401] * LIMIT
    assert wrong[0].json()["code"] == "authentication_required"
    right = _admin_get(live_server, live_server.admin_token)
    assert right.status_code == 429, f"after {LIMIT} wrong admin tokens the right one got {right.status_code}"


def test_an_admin_lockout_is_refused_before_the_token_and_ends_with_the_minute(live_server: LiveServer) -> None:
    assert [_admin_get(live_server, "not-the-admin-token").status_code for _ in range(LIMIT + 2)][-1] == 429
    right = _admin_get(live_server, live_server.admin_token)
    assert right.status_code == 429, right.text  # the right token, refused: it was never compared
    assert right.headers["retry-after"] == RETRY_AFTER
    assert (right.json()["error"], right.json()["code"]) == ("slow_down", "rate_limited")
    live_server.clock.advance(int(RETRY_AFTER))
    assert _admin_get(live_server, live_server.admin_token).status_code == 200


def test_admin_calls_without_a_token_are_not_counted(live_server: LiveServer) -> None:
    with _client(live_server) as client:
        assert [client.get("/admin/api/v1/orgs").status_code for _ in range(2 * LIMIT)] == [401] * (2 * LIMIT)
    assert _admin_get(live_server, live_server.admin_token).status_code == 200


# --- d. the audit log under a flood ---------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
def test_unverified_refusals_write_at_most_the_budget_then_one_summary(
    live_server: LiveServer, tenant: Org, door: str
) -> None:
    statuses = _flood(live_server, door, ORG_ID, LIMIT + 6)
    refused, limited = statuses.count(REFUSED[door]), statuses.count(429)
    assert refused + limited == len(statuses)
    assert refused > AUDIT_LIMIT
    assert limited > AUDIT_LIMIT

    rows = _audit(live_server)
    denied = [row for row in rows if row["result"] == "denied"]
    assert {(row["client"], row["verified"], row["org_id"]) for row in denied} == {(PEER, False, ORG_ID)}
    codes = Counter(row["code"] for row in denied)
    [own_code] = set(codes) - {"rate_limited"}
    # The 429s are unverified refusals too: bounded in their own (client, code) bucket.
    assert codes == {own_code: AUDIT_LIMIT, "rate_limited": AUDIT_LIMIT}
    assert not any(SUMMARY.split("{")[0] in row["detail"] for row in rows)  # the minute is not over

    live_server.clock.advance(60)
    summaries = [row for row in _audit(live_server) if row["id"] not in {r["id"] for r in rows}]
    window_end = iso(math.floor(live_server.clock.now() / 60) * 60)
    assert sorted((row["code"], row["detail"]) for row in summaries) == sorted(
        [(own_code, _summary(refused - AUDIT_LIMIT, PEER)), ("rate_limited", _summary(limited - AUDIT_LIMIT, PEER))]
    )
    assert {(row["client"], row["verified"], row["result"], row["at"]) for row in summaries} == {
        (PEER, False, "denied", window_end)
    }


def test_verified_refusals_are_always_written(live_server: LiveServer, tenant: Org) -> None:
    assert _flood(live_server, "token", ORG_ID, LIMIT + 4)[-1] == 429  # both unverified budgets spent
    assertion = tenant.assertion(live_server.token_endpoint)
    assert _token(live_server, assertion).status_code == 200
    replays = [_token(live_server, assertion) for _ in range(AUDIT_LIMIT + 3)]
    # The pair is over the bound: a replay (verified, refused) is answered 429 too, and written each time.
    assert [response.status_code for response in replays] == [429] * (AUDIT_LIMIT + 3)
    rows = [row for row in _audit(live_server) if row["result"] == "denied"]
    verified = [row for row in rows if row["verified"]]
    assert len(verified) == AUDIT_LIMIT + 3
    assert {row["code"] for row in verified} == {"rate_limited"}
    assert all("this one: assertion_replayed" in row["detail"] for row in verified)
    assert Counter(row["code"] for row in rows if not row["verified"])["rate_limited"] == AUDIT_LIMIT


# --- e. the client address ------------------------------------------------------------------------


def test_without_trusted_proxies_forwarded_headers_are_ignored(live_server: LiveServer, tenant: Org) -> None:
    spoofed = [{"x-forwarded-for": f"198.51.100.{n}", "forwarded": f"for=198.51.100.{n}"} for n in range(1, LIMIT + 3)]
    statuses = [_junk(live_server, "token", ORG_ID, headers).status_code for headers in spoofed]
    assert statuses[-1] == 429  # a new forwarded address each time does not escape the bound
    odd: list[Headers] = [
        {"x-forwarded-for": "not an address"},
        {"x-forwarded-for": ""},
        httpx.Headers({"x-forwarded-for": "\xff\xfe"}, encoding="latin-1"),
    ]
    assert [_junk(live_server, "api", OTHER_ORG_ID, headers).status_code for headers in odd] == [401] * 3
    assert {row["client"] for row in _audit(live_server)} == {PEER}


def _client_of(server: LiveServer, headers: Headers, marker: str) -> tuple[int, str | None]:
    """The status of a junk token request with ``headers``, and the client its audit row names."""
    response = _token(server, _junk_jwt(ORG_ID, server.token_endpoint, subject=marker), headers)
    [row] = [row for row in _audit(server) if row["subject"] == marker]
    return response.status_code, row["client"]


def test_behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client(forwarding: LiveServer) -> None:
    cases: dict[str, tuple[Headers, str]] = {
        "one hop": ({"x-forwarded-for": "198.51.100.7"}, "198.51.100.7"),
        "client-written entry": ({"x-forwarded-for": "192.0.2.66, 198.51.100.7"}, "198.51.100.7"),
        "two proxies": ({"x-forwarded-for": "192.0.2.66, 198.51.100.7, 127.0.0.1"}, "198.51.100.7"),
        "forwarded": ({"forwarded": 'for=192.0.2.66, for="[2001:db8::7]:4711";proto=https'}, "2001:db8::7"),
        "forwarded with port": ({"forwarded": "for=198.51.100.9:4711"}, "198.51.100.9"),
        "xff before forwarded": ({"x-forwarded-for": "198.51.100.7", "forwarded": "for=192.0.2.66"}, "198.51.100.7"),
        "no header": ({}, PEER),
    }
    seen = {name: _client_of(forwarding, headers, f"case-{n}") for n, (name, (headers, _)) in enumerate(cases.items())}
    assert seen == {name: (400, client) for name, (_, client) in cases.items()}


def test_malformed_forwarded_values_are_handled_cleanly(forwarding: LiveServer) -> None:
    """No 500: an empty chain falls back to the peer; so does an entry that is not an address (the
    proxy that saw it is the client: junk is neither keyed on nor written to the audit log)."""
    cases: dict[str, tuple[Headers, str]] = {
        "empty": ({"x-forwarded-for": ""}, PEER),
        "only commas": ({"x-forwarded-for": ", ,"}, PEER),
        "forwarded without for": ({"forwarded": "proto=https;by=203.0.113.1"}, PEER),
        "forwarded garbage": ({"forwarded": ";;=,,="}, PEER),
        "unknown": ({"x-forwarded-for": "unknown"}, PEER),
        "obfuscated": ({"forwarded": "for=_hidden"}, PEER),
        "not an address": ({"x-forwarded-for": "192.0.2.300"}, PEER),
        "latin-1 bytes": (httpx.Headers({"x-forwarded-for": "\xff\xfe"}, encoding="latin-1"), PEER),
        "unclosed bracket": ({"forwarded": 'for="[2001:db8::1'}, PEER),
        "long junk": ({"x-forwarded-for": "x" * 3000}, PEER),
        "uncompressed ipv6": ({"x-forwarded-for": "2001:0db8:0000::0007"}, "2001:db8::7"),
    }
    seen = {name: _client_of(forwarding, headers, f"case-{n}") for n, (name, (headers, _)) in enumerate(cases.items())}
    assert seen == {name: (400, client) for name, (_, client) in cases.items()}


def test_a_port_in_x_forwarded_for_is_removed(forwarding: LiveServer) -> None:
    """``_forwarded_for``: the addresses of X-Forwarded-For (else Forwarded), "ports and brackets
    removed". Some proxies write the client's port; kept, it would make each connection a new client."""
    cases: dict[str, tuple[Headers, str]] = {
        "ipv4 with port": ({"x-forwarded-for": "198.51.100.7:51234"}, "198.51.100.7"),
        "ipv6 with port": ({"x-forwarded-for": "[2001:db8::7]:51234"}, "2001:db8::7"),
    }
    seen = {name: _client_of(forwarding, headers, f"case-{n}") for n, (name, (headers, _)) in enumerate(cases.items())}
    assert seen == {name: (400, client) for name, (_, client) in cases.items()}


def test_behind_a_trusted_proxy_limits_key_on_the_forwarded_client(proxied: LiveServer) -> None:
    mallory, alice = {"x-forwarded-for": "198.51.100.7"}, {"x-forwarded-for": "198.51.100.8"}
    assert _flood(proxied, "token", ORG_ID, LIMIT + 2, mallory)[-1] == 429
    # What the client writes left of the proxy's entry changes nothing.
    assert _junk(proxied, "token", ORG_ID, {"x-forwarded-for": "10.1.2.3, 198.51.100.7"}).status_code == 429
    assert _junk(proxied, "token", ORG_ID, alice).status_code == 400  # another client
    assert _junk(proxied, "token", ORG_ID).status_code == 400  # the proxy's own address
    # The admin lockout too: Mallory's wrong tokens lock Mallory out, not the admin behind the same proxy.
    assert [_admin_get(proxied, "wrong", mallory).status_code for _ in range(LIMIT + 2)][-1] == 429
    assert _admin_get(proxied, proxied.admin_token, mallory).status_code == 429
    assert _admin_get(proxied, proxied.admin_token, alice).status_code == 200
    # And the audit budget is Mallory's own: Alice's refusal is written.
    rows = _audit(proxied)
    assert Counter(row["client"] for row in rows if row["code"] == "unknown_issuer") == {
        "198.51.100.7": AUDIT_LIMIT,
        "198.51.100.8": 1,
        PEER: 1,
    }
