"""RegistryVerifier end to end: the service's own decisions, in-process, on the registry a live service uses.

The live service and the verifier share one SQLite store (two connections, as two processes would)
and one clock; credentials come from the service (access tokens through the JWT-bearer grant) or from
the emulated org (Apex JWTs, Canvas signed requests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from forcegate.clock import FixedClock
from forcegate.core.identity import Identity
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.resource import SESSION_COOKIE, Refusal, RegistryVerifier
from forcegate.settings import Settings
from server.live import CONSUMER_KEY, CONSUMER_SECRET, RECORD_ID, USER_ID, LiveServer, Org, get_me


@pytest.fixture
def verifier(live_server: LiveServer, clock: FixedClock) -> Iterator[RegistryVerifier]:
    made = RegistryVerifier(live_server.settings, clock=clock)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def canvas_app(live_server: LiveServer, registered: Org) -> Org:
    """The Canvas app registered with its consumer secret, bound to the registered org."""
    with live_server.admin() as admin:
        response = admin.post("/admin/api/v1/apps", json={"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET})
        assert response.status_code == 201, response.text
        response = admin.patch(f"/admin/api/v1/orgs/{registered.org_id}", json={"apps": [CONSUMER_KEY]})
        assert response.status_code == 200, response.text
    return registered


def signed_request(org_id: str, secret: str = CONSUMER_SECRET) -> str:
    envelope = build_envelope(
        org_id=org_id,
        user_id=USER_ID,
        user_name="grace@example.com",
        parameters={"region": "APAC"},
        record={"attributes": {"type": "Account", "url": "/x"}, "Id": RECORD_ID[:15]},
        oauth_token="00Dxx!session-token",
    )
    return sign_envelope(envelope, secret)


def refusal_of(call: Callable[[], object]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call()
    return caught.value


def audit_codes(live_server: LiveServer) -> list[tuple[str, str, str]]:
    with live_server.admin() as admin:
        response = admin.get("/admin/api/v1/audit", params={"limit": 50})
    assert response.status_code == 200, response.text
    return [(event["endpoint"], event["credential"], event["code"]) for event in response.json()]


# --- access tokens and direct Apex JWTs -------------------------------------------------------------------


def test_an_access_token_gives_the_identity_the_service_gives(
    verifier: RegistryVerifier, live_server: LiveServer, new_token: Callable[[], str]
) -> None:
    token = new_token()
    identity = verifier.verify(f"Bearer {token}", scopes=["orders:read"], client="203.0.113.9", endpoint="/orders")
    assert identity == Identity.from_dict(get_me(live_server.url, token).json())
    verifier.close()  # writes the queued audit rows
    assert ("/orders", "access-token", "ok") in audit_codes(live_server)


def test_a_revoked_token_and_a_missing_scope_are_refused(
    verifier: RegistryVerifier, live_server: LiveServer, new_token: Callable[[], str]
) -> None:
    token = new_token()
    assert refusal_of(lambda: verifier.verify(f"Bearer {token}", scopes=["orders:write"])).status == 403
    with live_server.admin() as admin:
        assert admin.post("/oauth2/revoke", data={"token": token}).status_code == 200
    refusal = refusal_of(lambda: verifier.verify(f"Bearer {token}"))
    assert (refusal.status, refusal.code, refusal.body) == (401, "token_revoked", {"error": "invalid_token"})
    assert refusal.challenge == 'Bearer realm="forcegate", error="invalid_token"'


def test_a_direct_apex_jwt_is_single_use(verifier: RegistryVerifier, live_server: LiveServer, registered: Org) -> None:
    assertion = registered.assertion(live_server.settings.token_endpoint)
    identity = verifier.verify(f"Bearer {assertion}")
    assert (identity.source, identity.user_id) == ("jwt", USER_ID)
    assert refusal_of(lambda: verifier.verify(f"Bearer {assertion}")).code == "assertion_replayed"
    # The service shares the replay store: the assertion is spent there too.
    assert get_me(live_server.url, assertion).status_code == 401


def test_no_credential_and_a_malformed_header(verifier: RegistryVerifier) -> None:
    none = refusal_of(lambda: verifier.verify(None))
    assert (none.status, none.code, none.challenge) == (401, "no_credentials", 'Bearer realm="forcegate"')
    assert refusal_of(lambda: verifier.verify("Bearer a b")).status == 400


def test_a_disabled_org_is_refused_on_the_next_call(
    verifier: RegistryVerifier, live_server: LiveServer, registered: Org, new_token: Callable[[], str]
) -> None:
    token = new_token()
    verifier.verify(f"Bearer {token}")
    with live_server.admin() as admin:
        assert admin.patch(f"/admin/api/v1/orgs/{registered.org_id}", json={"enabled": False}).status_code == 200
    assert refusal_of(lambda: verifier.verify(f"Bearer {token}")).code == "org_disabled"


def test_sync_from_worker_threads_and_async_from_any_loop(
    verifier: RegistryVerifier, new_token: Callable[[], str]
) -> None:
    tokens = [new_token() for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        identities = list(pool.map(lambda n: verifier.verify(f"Bearer {tokens[n % 4]}"), range(32)))
    assert len({identity.org_id for identity in identities}) == 1

    async def calls() -> list[Identity]:
        return list(await asyncio.gather(*(verifier.averify(f"Bearer {token}") for token in tokens)))

    assert asyncio.run(calls()) == asyncio.run(calls()) == identities[:4]
    assert [thread.name for thread in threading.enumerate()].count("forcegate-registry") == 1


def test_a_store_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    verifier = RegistryVerifier(Settings(data_dir=tmp_path / "nothing-here"))
    try:
        refusal = refusal_of(lambda: verifier.verify("Bearer x.y.z"))
        assert (refusal.status, refusal.body, refusal.code) == (500, {"error": "server_error"}, "no_store")
        assert not (tmp_path / "nothing-here").exists()
    finally:
        verifier.close()


# --- Canvas ------------------------------------------------------------------------------------------------


def test_a_canvas_login_opens_a_session_with_decision_0009s_cookie(
    verifier: RegistryVerifier, live_server: LiveServer, canvas_app: Org
) -> None:
    session = verifier.open_canvas_session(
        {"signed_request": signed_request(canvas_app.org_id)},
        origin="https://example.my.salesforce.com",
        client="203.0.113.9",
        endpoint="/django/canvas",
    )
    assert (session.identity.source, session.identity.org_id) == ("canvas", canvas_app.org_id)
    assert session.request.client.oauth_token == "00Dxx!session-token"  # handed over, never stored
    assert session.set_cookie == (
        f"{SESSION_COOKIE}={session.session_id}; Path=/; Max-Age={live_server.settings.session_lifetime}; "
        "HttpOnly; Secure; SameSite=None; Partitioned"
    )
    assert session.session_id not in repr(session)
    # The session works here, and at the service (one store).
    assert verifier.verify(None, session=session.session_id) == session.identity
    with live_server.client() as browser:
        browser.cookies.set(SESSION_COOKIE, session.session_id)
        assert browser.get("/api/v1/me").status_code == 200
    # A bearer credential wins over the cookie, as at the service.
    assert refusal_of(lambda: verifier.verify("Bearer x.y.z", session=session.session_id)).status == 401
    cleared = verifier.end_session(session.session_id, endpoint="/django/logout")
    assert cleared == f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None; Partitioned"
    assert refusal_of(lambda: verifier.verify(None, session=session.session_id)).code == "authentication_required"
    verifier.close()
    codes = audit_codes(live_server)
    assert ("/django/canvas", "canvas", "ok") in codes
    assert ("/django/logout", "session", "ok") in codes


def test_a_session_ends_when_its_trust_does(
    verifier: RegistryVerifier, live_server: LiveServer, canvas_app: Org
) -> None:
    session = verifier.open_canvas_session({"signed_request": signed_request(canvas_app.org_id)})
    verifier.verify(None, session=session.session_id)
    with live_server.admin() as admin:  # the org no longer trusts the app
        assert admin.patch(f"/admin/api/v1/orgs/{canvas_app.org_id}", json={"apps": []}).status_code == 200
    refusal = refusal_of(lambda: verifier.verify(None, session=session.session_id))
    assert (refusal.status, refusal.code) == (401, "authentication_required")
    assert "does not trust app" in refusal.error.reason


@pytest.mark.parametrize(
    ("form", "origin", "status", "code"),
    [
        ({"signed_request": "forged"}, None, 401, "malformed_signed_request"),
        ({}, None, 400, "invalid_request"),
        (None, "https://evil.example.com", 403, "canvas_origin_refused"),
    ],
)
def test_canvas_refusals_are_for_a_page_not_a_challenge(
    verifier: RegistryVerifier,
    canvas_app: Org,
    form: dict[str, str] | None,
    origin: str | None,
    status: int,
    code: str,
) -> None:
    fields = form if form is not None else {"signed_request": signed_request(canvas_app.org_id)}
    refusal = refusal_of(lambda: verifier.open_canvas_session(fields, origin=origin))
    assert (refusal.status, refusal.code, refusal.challenge) == (status, code, None)


def test_a_request_signed_with_another_secret_is_refused(verifier: RegistryVerifier, canvas_app: Org) -> None:
    forged = signed_request(canvas_app.org_id, secret="not-the-consumer-secret")
    refusal = refusal_of(lambda: verifier.open_canvas_session({"signed_request": forged}))
    assert (refusal.status, refusal.code) == (401, "canvas_signature_invalid")


def test_the_async_canvas_api(verifier: RegistryVerifier, canvas_app: Org) -> None:
    async def flow() -> None:
        session = await verifier.aopen_canvas_session(
            {"signed_request": signed_request(canvas_app.org_id)}, consumer_key=CONSUMER_KEY
        )
        assert (await verifier.averify(None, session=session.session_id)).org_id == canvas_app.org_id
        assert "Max-Age=0" in await verifier.aend_session(session.session_id)
        with pytest.raises(Refusal):
            await verifier.averify(None, session=session.session_id)
        await verifier.aclose()

    asyncio.run(flow())


def test_development_mode_over_plain_http_says_why_and_sets_a_lax_cookie(
    live_server: LiveServer, canvas_app: Org, clock: FixedClock
) -> None:
    settings = dataclasses.replace(live_server.settings, development=True)
    verifier = RegistryVerifier(settings, clock=clock)
    try:
        session = verifier.open_canvas_session({"signed_request": signed_request(canvas_app.org_id)})
        assert session.set_cookie.endswith("; HttpOnly; SameSite=Lax")
        refusal = refusal_of(lambda: verifier.verify("Bearer x.y.z"))
        assert refusal.body["code"] == refusal.code
    finally:
        verifier.close()
