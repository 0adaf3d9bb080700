"""The Salesforce emulator's token, userinfo and REST endpoints: Salesforce's field names and error strings."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools import AuthJWS, AuthJWT, CertificateAndKeyManagement, SalesforceEmulator, running_emulator
from forcegate.errors import ConfigurationError
from helpers import self_signed

CONSUMER_KEY = "3MVG9_emulator_app"
ORG_ID = "00D5g000004ABCDEA4"
USER_ID = "0055g00000AbCdEAAV"
USERNAME = "ada@example.com"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN = "https://login.salesforce.com"
NOW = 1_780_000_000.0


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(rsa_key, cn="connected-app", start=dt.datetime.fromtimestamp(NOW, dt.UTC) - dt.timedelta(days=1))


@pytest.fixture
def emulator(clock: FixedClock, certificate: x509.Certificate) -> SalesforceEmulator:
    emulator = SalesforceEmulator(clock)
    emulator.add_connected_app(CONSUMER_KEY, certificate)
    emulator.add_user(ORG_ID, USER_ID, USERNAME, email=USERNAME, name="Ada Lovelace")
    return emulator


class AppClient:
    """Synchronous calls into an ASGI app, each through its own ``httpx.AsyncClient``: the emulator as a
    My Domain (``https://acme.my.salesforce.com``) without a server."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app)
            async with httpx.AsyncClient(transport=transport, base_url="https://acme.my.salesforce.com") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(call())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def client(emulator: SalesforceEmulator) -> AppClient:
    return AppClient(emulator.app)


def _sign(
    rsa_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    clock: FixedClock,
    *,
    iss: str = CONSUMER_KEY,
    sub: str = USERNAME,
    aud: str = LOGIN,
    validity: int = 120,
) -> str:
    store = CertificateAndKeyManagement()
    store.add("app", private_key=rsa_key, certificate=certificate)
    jwt = AuthJWT(iss=iss, sub=sub, aud=aud, validity_length=validity)
    return AuthJWS(jwt, "app", certificates=store, clock=clock).compact_serialization()


def _token(client: AppClient, assertion: str, grant_type: str = GRANT) -> httpx.Response:
    return client.post("/services/oauth2/token", data={"grant_type": grant_type, "assertion": assertion})


@pytest.fixture
def signed(rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock) -> str:
    return _sign(rsa_key, certificate, clock)


def test_a_valid_assertion_gets_salesforces_token_response(client: AppClient, signed: str) -> None:
    response = _token(client, signed)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "scope", "instance_url", "id", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == "https://acme.my.salesforce.com"
    assert body["id"] == f"https://acme.my.salesforce.com/id/{ORG_ID}/{USER_ID}"
    assert body["access_token"].startswith(ORG_ID[:15] + "!")
    assert "no-store" in response.headers["cache-control"]


@pytest.mark.parametrize(
    ("changes", "error", "description"),
    [
        ({"iss": "3MVG9_unknown"}, "invalid_client_id", "client identifier invalid"),
        ({"aud": "https://example.com"}, "invalid_grant", "audience is invalid"),
        ({"validity": 600}, "invalid_grant", "invalid assertion"),
        ({"validity": -5}, "invalid_grant", "expired authorization code"),
        ({"sub": "nobody@example.com"}, "invalid_grant", "user hasn't approved this consumer"),
    ],
)
def test_refusals_use_salesforces_exact_strings(
    client: AppClient,
    rsa_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    clock: FixedClock,
    changes: dict[str, object],
    error: str,
    description: str,
) -> None:
    response = _token(client, _sign(rsa_key, certificate, clock, **changes))  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_test_login_and_my_domain_audiences_are_accepted(
    client: AppClient, rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock
) -> None:
    for aud in ("https://test.salesforce.com", "https://acme.my.salesforce.com"):
        assert _token(client, _sign(rsa_key, certificate, clock, aud=aud)).status_code == 200


def test_an_assertion_signed_by_another_key_is_an_invalid_assertion(
    client: AppClient, other_rsa_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    other = self_signed(other_rsa_key, start=dt.datetime.fromtimestamp(NOW, dt.UTC) - dt.timedelta(days=1))
    response = _token(client, _sign(other_rsa_key, other, clock))
    assert response.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_malformed_jwt_and_wrong_grant_type(client: AppClient, signed: str) -> None:
    assert _token(client, "not.a-jwt").json()["error_description"] == "Invalid JWT format"
    response = _token(client, signed, grant_type="password")
    assert response.json() == {"error": "unsupported_grant_type", "error_description": "grant type not supported"}


def test_admin_approval_is_enforced(
    emulator: SalesforceEmulator, client: AppClient, certificate: x509.Certificate, signed: str
) -> None:
    emulator.add_connected_app(CONSUMER_KEY, certificate, approved_usernames=["someone.else@example.com"])
    assert _token(client, signed).json()["error_description"] == "user is not admin approved to access this app"


def test_userinfo_answers_for_a_live_token_and_refuses_others(
    emulator: SalesforceEmulator, client: AppClient, clock: FixedClock
) -> None:
    token = emulator.issue_session_token(ORG_ID[:15], USER_ID, lifetime=60)
    response = client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    info = response.json()
    assert info["organization_id"] == ORG_ID
    assert info["user_id"] == USER_ID
    assert info["preferred_username"] == USERNAME
    assert info["email"] == USERNAME
    assert info["name"] == "Ada Lovelace"
    assert info["sub"] == f"https://acme.my.salesforce.com/id/{ORG_ID}/{USER_ID}"

    missing = client.get("/services/oauth2/userinfo")
    assert (missing.status_code, missing.text) == (403, "Missing_OAuth_Token")
    bad = client.get("/services/oauth2/userinfo", headers={"Authorization": "Bearer 00D!nonsense"})
    assert (bad.status_code, bad.text) == (403, "Bad_OAuth_Token")

    clock.advance(60)
    expired = client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert (expired.status_code, expired.text) == (403, "Bad_OAuth_Token")


def test_a_revoked_session_is_refused(emulator: SalesforceEmulator, client: AppClient) -> None:
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    emulator.revoke_session(token)
    assert client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_the_revocation_endpoint_ends_a_session(emulator: SalesforceEmulator, client: AppClient) -> None:
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    revoked = client.post("/services/oauth2/revoke", data={"token": token})
    assert (revoked.status_code, revoked.content) == (200, b"")
    assert client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert emulator.revocations == 1
    for form in ({"token": token}, {"token": "00D5g000004ABCD!unknown"}, {}):  # used, unknown, missing
        again = client.post("/services/oauth2/revoke", data=form)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_token"
    assert emulator.revocations == 1


def test_a_revocation_outage_revokes_nothing(emulator: SalesforceEmulator, client: AppClient) -> None:
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    emulator.revocation_outage = True
    assert client.post("/services/oauth2/revoke", data={"token": token}).status_code == 503
    assert client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_rest_api_says_invalid_session_id(emulator: SalesforceEmulator, client: AppClient) -> None:
    token = emulator.issue_session_token(org_id=ORG_ID, user_id=USER_ID)
    assert client.get("/services/data/v62.0/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    emulator.revoke_all_sessions()
    response = client.get("/services/data/v62.0/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_session_tokens_need_a_known_user_or_a_username(emulator: SalesforceEmulator, client: AppClient) -> None:
    stranger = "005000000000001AAA"
    with pytest.raises(ConfigurationError):
        emulator.issue_session_token(org_id=ORG_ID, user_id=stranger)
    token = emulator.issue_session_token(ORG_ID, stranger, "new.user@example.com")
    info = client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"}).json()
    assert (info["user_id"], info["preferred_username"]) == (stranger, "new.user@example.com")


def test_running_emulator_serves_on_loopback_and_stops(emulator: SalesforceEmulator, signed: str) -> None:
    with running_emulator(emulator) as url:
        assert url.startswith("http://127.0.0.1:")
        response = httpx.post(url + "/services/oauth2/token", data={"grant_type": GRANT, "assertion": signed})
        assert response.status_code == 200
        assert response.json()["instance_url"] == url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/services/oauth2/userinfo", timeout=2)
