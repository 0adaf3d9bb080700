"""The optional Canvas liveness check (FORCEGATE_CANVAS_LIVENESS_CHECK), end to end against the Salesforce emulator."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forcegate.clock import FixedClock
from forcegate.core.canvas import verify_signed_request
from forcegate.devtools import SalesforceEmulator, build_envelope, running_emulator, sign_envelope
from forcegate.errors import CanvasSessionNotLive, SalesforceUnavailable
from forcegate.service.canvas_liveness import CanvasLivenessCheck
from forcegate.settings import load_settings
from server.live import CONSUMER_KEY, CONSUMER_SECRET, ORG_ID, USER_ID, USERNAME, LiveServer, Org, start_server

OTHER_USER_ID = "0055g00000XyZabAAF"


@pytest.fixture
def emulator(clock: FixedClock) -> SalesforceEmulator:
    emulator = SalesforceEmulator(clock)
    emulator.add_user(ORG_ID, USER_ID, USERNAME, email=USERNAME, name="Ada Lovelace")
    emulator.add_user(ORG_ID, OTHER_USER_ID, "grace@example.com")
    return emulator


@pytest.fixture
def salesforce_url(emulator: SalesforceEmulator) -> Iterator[str]:
    with running_emulator(emulator) as url:
        yield url


@pytest.fixture
def checked_server(tmp_path: Path, clock: FixedClock) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "data", clock=clock, canvas_liveness_check=True)
    try:
        yield server
    finally:
        server.stop()


def _register(server: LiveServer, org: Org) -> None:
    with server.admin() as admin:
        assert admin.post("/admin/api/v1/orgs", json={"org_id": org.org_id}).status_code == 201
        response = admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
        assert response.status_code == 201, response.text


def _signed(instance_url: str, oauth_token: str | None) -> str:
    envelope = build_envelope(
        org_id=ORG_ID, user_id=USER_ID[:15], user_name=USERNAME, instance_url=instance_url, oauth_token=oauth_token
    )
    return sign_envelope(envelope, CONSUMER_SECRET)


def _post(server: LiveServer, signed_request: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/canvas", data={"signed_request": signed_request})


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_live_session_of_the_envelopes_user_is_accepted(
    checked_server: LiveServer, org: Org, emulator: SalesforceEmulator, salesforce_url: str
) -> None:
    _register(checked_server, org)
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    response = _post(checked_server, _signed(salesforce_url, token))
    assert response.status_code == 303, response.text
    assert "forcegate_session=" in response.headers["set-cookie"]


def test_a_revoked_session_is_refused(
    checked_server: LiveServer, org: Org, emulator: SalesforceEmulator, salesforce_url: str
) -> None:
    _register(checked_server, org)
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    emulator.revoke_session(token)
    response = _post(checked_server, _signed(salesforce_url, token))
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert token not in response.text


def test_an_expired_session_is_refused(
    checked_server: LiveServer, org: Org, emulator: SalesforceEmulator, salesforce_url: str, clock: FixedClock
) -> None:
    _register(checked_server, org)
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID, lifetime=60)
    clock.advance(61)
    assert _post(checked_server, _signed(salesforce_url, token)).status_code == 401


def test_another_users_session_is_refused(
    checked_server: LiveServer, org: Org, emulator: SalesforceEmulator, salesforce_url: str
) -> None:
    _register(checked_server, org)
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=OTHER_USER_ID)
    assert _post(checked_server, _signed(salesforce_url, token)).status_code == 401


def test_an_unreachable_salesforce_fails_closed_with_503(checked_server: LiveServer, org: Org) -> None:
    _register(checked_server, org)
    response = _post(checked_server, _signed(_closed_port_url(), "00D5g000004ABCD!token"))
    assert response.status_code == 503
    assert "set-cookie" not in response.headers


def test_plain_http_to_a_non_loopback_instance_is_refused(checked_server: LiveServer, org: Org) -> None:
    _register(checked_server, org)
    response = _post(checked_server, _signed("http://example.my.salesforce.com", "00D5g000004ABCD!token"))
    assert response.status_code == 401


def test_without_the_setting_nothing_is_asked(
    live_server: LiveServer, org: Org, emulator: SalesforceEmulator, salesforce_url: str
) -> None:
    _register(live_server, org)
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    emulator.revoke_session(token)
    assert _post(live_server, _signed(salesforce_url, token)).status_code == 303


def test_the_setting_is_read_from_the_environment() -> None:
    assert load_settings({}).canvas_liveness_check is False
    assert load_settings({"FORCEGATE_CANVAS_LIVENESS_CHECK": "1"}).canvas_liveness_check is True


# --- the check on its own, against canned answers --------------------------------------------------


def _check(answer: httpx.Response | Exception, *, instance_url: str = "https://acme.my.salesforce.com") -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    request = verify_signed_request(_signed(instance_url, "00D5g000004ABCD!token"), [CONSUMER_SECRET])
    check = CanvasLivenessCheck(transport=httpx.MockTransport(handler))
    try:
        asyncio.run(check.check(request))
    finally:
        for sent in seen:
            assert str(sent.url) == "https://acme.my.salesforce.com/services/oauth2/userinfo"
            assert sent.headers["authorization"] == "Bearer 00D5g000004ABCD!token"


def test_a_matching_userinfo_passes() -> None:
    _check(httpx.Response(200, json={"organization_id": ORG_ID, "user_id": USER_ID}))


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(403, text="Bad_OAuth_Token"),
        httpx.Response(401, json=[{"errorCode": "INVALID_SESSION_ID"}]),
        httpx.Response(200, json={"organization_id": "00D5g000004XYZWEA4", "user_id": USER_ID}),
        httpx.Response(200, json={"organization_id": ORG_ID}),
    ],
)
def test_refusals_and_mismatches_are_not_live(answer: httpx.Response) -> None:
    with pytest.raises(CanvasSessionNotLive):
        _check(answer)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(302, headers={"location": "https://login.salesforce.com"}),
        httpx.Response(200, text="<html>"),
        httpx.ConnectTimeout("slow"),
    ],
)
def test_no_usable_answer_is_unavailable(answer: httpx.Response | Exception) -> None:
    with pytest.raises(SalesforceUnavailable):
        _check(answer)
