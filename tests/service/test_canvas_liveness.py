"""The optional Canvas liveness check (FORCEGATE_CANVAS_LIVENESS_CHECK), end to end over HTTP.

The emulated Salesforce runs on loopback, so the service may call it only because its exact origin
is configured (``canvas_instance_domains``); every other instance URL is refused before anything is
connected to. How a Salesforce host is resolved and called is in test_canvas_liveness_pinning.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from forcegate.clock import FixedClock
from forcegate.devtools import SalesforceEmulator, build_envelope, running_emulator, sign_envelope
from forcegate.errors import ConfigurationError
from forcegate.settings import load_settings
from server.live import CONSUMER_KEY, CONSUMER_SECRET, ORG_ID, USER_ID, USERNAME, LiveServer, Org, start_server

OTHER_USER_ID = "0055g00000XyZabAAF"
TOKEN = "00D5g000004ABCD!token"


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


@contextmanager
def _checked_server(tmp_path: Path, clock: FixedClock, org: Org, *origins: str) -> Iterator[LiveServer]:
    """A server with the liveness check on, allowed to call ``origins``, with the app and the org registered."""
    server = start_server(
        tmp_path / "data", clock=clock, canvas_liveness_check=True, canvas_instance_domains=tuple(origins)
    )
    try:
        with server.admin() as admin:
            response = admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
            assert response.status_code == 201, response.text
            response = admin.post("/admin/api/v1/orgs", json={"org_id": org.org_id, "apps": [CONSUMER_KEY]})
            assert response.status_code == 201, response.text
        yield server
    finally:
        server.stop()


@pytest.fixture
def checked_server(tmp_path: Path, clock: FixedClock, org: Org, salesforce_url: str) -> Iterator[LiveServer]:
    with _checked_server(tmp_path, clock, org, salesforce_url) as server:
        yield server


def _signed(instance_url: str, oauth_token: str | None) -> str:
    envelope = build_envelope(
        org_id=ORG_ID, user_id=USER_ID[:15], user_name=USERNAME, instance_url=instance_url, oauth_token=oauth_token
    )
    return sign_envelope(envelope, CONSUMER_SECRET)


def _post(server: LiveServer, signed_request: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/canvas", data={"signed_request": signed_request})


def _assert_refused(response: httpx.Response, token: str = TOKEN) -> None:
    assert response.status_code == 401, response.text
    assert "set-cookie" not in response.headers
    assert token not in response.text


@contextmanager
def _listener() -> Iterator[socket.socket]:
    """A listening socket on loopback: whatever connects to it waits in its backlog, to be found by accept()."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def _assert_never_connected(listener: socket.socket) -> None:
    try:
        connection, _ = listener.accept()
    except BlockingIOError:
        return  # nothing in the backlog: nobody connected
    connection.close()
    pytest.fail("the liveness check connected to an instance URL it must refuse")


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- the emulator, allowed by its exact origin ------------------------------------------------------------


def test_a_live_session_of_the_envelopes_user_is_accepted(
    checked_server: LiveServer, emulator: SalesforceEmulator, salesforce_url: str
) -> None:
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    response = _post(checked_server, _signed(salesforce_url, token))
    assert response.status_code == 303, response.text
    assert "forcegate_session=" in response.headers["set-cookie"]
    # The origin with a trailing slash is the same origin.
    assert _post(checked_server, _signed(salesforce_url + "/", token)).status_code == 303


def test_a_revoked_session_is_refused(
    checked_server: LiveServer, emulator: SalesforceEmulator, salesforce_url: str
) -> None:
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    emulator.revoke_session(token)
    _assert_refused(_post(checked_server, _signed(salesforce_url, token)), token)


def test_an_expired_session_is_refused(
    checked_server: LiveServer, emulator: SalesforceEmulator, salesforce_url: str, clock: FixedClock
) -> None:
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID, lifetime=60)
    clock.advance(61)
    _assert_refused(_post(checked_server, _signed(salesforce_url, token)), token)


def test_another_users_session_is_refused(
    checked_server: LiveServer, emulator: SalesforceEmulator, salesforce_url: str
) -> None:
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=OTHER_USER_ID)
    _assert_refused(_post(checked_server, _signed(salesforce_url, token)), token)


def test_an_allowed_but_unreachable_origin_fails_closed_with_503(tmp_path: Path, clock: FixedClock, org: Org) -> None:
    closed = _closed_port_url()
    with _checked_server(tmp_path, clock, org, closed) as server:
        response = _post(server, _signed(closed, TOKEN))
    assert response.status_code == 503
    assert "set-cookie" not in response.headers


def test_without_the_setting_nothing_is_asked(
    live_server: LiveServer, org: Org, emulator: SalesforceEmulator, salesforce_url: str
) -> None:
    with live_server.admin() as admin:
        admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
        admin.post("/admin/api/v1/orgs", json={"org_id": org.org_id, "apps": [CONSUMER_KEY]})
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    emulator.revoke_session(token)
    assert _post(live_server, _signed(salesforce_url, token)).status_code == 303


# --- instance URLs that are not allowed: refused, and nothing is connected to -------------------------------


def test_a_local_listener_that_is_not_an_allowed_origin_is_never_contacted(
    checked_server: LiveServer, salesforce_url: str
) -> None:
    # The old check called any http loopback port and any https host:port with the user's token.
    with _listener() as listener:
        port = listener.getsockname()[1]
        emulator_port = salesforce_url.rsplit(":", 1)[1]
        for instance_url in (
            f"http://127.0.0.1:{port}",
            f"http://127.0.0.1:{port}/",
            f"https://127.0.0.1:{port}",
            f"http://localhost:{port}",
            f"https://localhost:{port}",
            f"http://127.1:{port}",
            f"http://2130706433:{port}",
            f"http://[::ffff:127.0.0.1]:{port}",
            f"http://127.0.0.1:{port}/services/apexrest/probe",
            f"http://user@127.0.0.1:{port}",
            f"http://127.0.0.1:{port}?x=1",
            f"http://127.0.0.1:{emulator_port}/../{port}",  # the allowed origin, with a path
            f"https://127.0.0.1:{emulator_port}",  # the allowed origin's host and port, another scheme
        ):
            _assert_refused(_post(checked_server, _signed(instance_url, TOKEN)))
        _assert_never_connected(listener)


@pytest.mark.parametrize(
    "instance_url",
    [
        "https://xn--n3h.example",  # invalid IDNA: the connection was dropped before
        "https://xn--n3h.my.salesforce.com",
        "http://example.my.salesforce.com",
        "https://example.my.salesforce.com:8443",
        "https://evilsalesforce.com",
        "https://169.254.169.254",
        "https://[::1]",
        "https://example.my.salesforce.com/services/data",
    ],
)
def test_instance_urls_outside_the_policy_are_a_clean_401(checked_server: LiveServer, instance_url: str) -> None:
    _assert_refused(_post(checked_server, _signed(instance_url, TOKEN)))


@pytest.mark.parametrize(
    "oauth_token", ["00D5g000004ABCD!tök€n", "00D5g000004ABCD!to ken", "tok\r\nX-Evil: 1", "t" * 5000]
)
def test_a_token_that_cannot_be_a_bearer_credential_is_a_clean_401_without_a_call(
    tmp_path: Path, clock: FixedClock, org: Org, oauth_token: str
) -> None:
    # Allowed origin, so only the token can be the reason; non-ASCII was a 500 (httpx cannot encode it).
    with _listener() as listener:
        origin = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with _checked_server(tmp_path, clock, org, origin) as server:
            response = _post(server, _signed(origin, oauth_token))
        _assert_refused(response, oauth_token)
        _assert_never_connected(listener)


def test_the_refusal_is_audited_with_its_reason(checked_server: LiveServer) -> None:
    _assert_refused(_post(checked_server, _signed("https://xn--n3h.example", TOKEN)))
    with checked_server.admin() as admin:
        events = admin.get("/admin/api/v1/audit", params={"limit": 5}).json()
    refusal = next(e for e in events if e["result"] == "denied")
    assert refusal["code"] == "canvas_session_not_live"
    assert "invalid internationalised host name" in refusal["detail"]
    assert TOKEN not in str(events)


# --- the settings -------------------------------------------------------------------------------------------


def test_the_settings_are_read_from_the_environment() -> None:
    assert load_settings({}).canvas_liveness_check is False
    assert load_settings({"FORCEGATE_CANVAS_LIVENESS_CHECK": "1"}).canvas_liveness_check is True
    assert load_settings({}).canvas_instance_domains == ()
    settings = load_settings({"FORCEGATE_CANVAS_INSTANCE_DOMAINS": " sf.example.com , http://127.0.0.1:8443 ,"})
    assert settings.canvas_instance_domains == ("sf.example.com", "http://127.0.0.1:8443")


@pytest.mark.parametrize("value", ["com", "10.0.0.1", "https://user@sf.example.com", "sf.example.com/x", "ftp://h"])
def test_a_bad_instance_domain_stops_the_start(value: str) -> None:
    with pytest.raises(ConfigurationError, match="canvas_instance_domains"):
        load_settings({"FORCEGATE_CANVAS_INSTANCE_DOMAINS": value})


def test_development_mode_does_not_open_loopback(tmp_path: Path, clock: FixedClock, org: Org) -> None:
    # The README: development mode never relaxes a check. Only a configured origin opens loopback.
    with _listener() as listener:
        origin = f"http://127.0.0.1:{listener.getsockname()[1]}"
        server = start_server(tmp_path / "data", clock=clock, canvas_liveness_check=True, development=True)
        try:
            with server.admin() as admin:
                admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
                admin.post("/admin/api/v1/orgs", json={"org_id": org.org_id, "apps": [CONSUMER_KEY]})
            _assert_refused(_post(server, _signed(origin, TOKEN)))
        finally:
            server.stop()
        _assert_never_connected(listener)
