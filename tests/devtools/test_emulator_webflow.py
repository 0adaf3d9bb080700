"""The emulator's web server flow with PKCE, identity URL and permission query: Salesforce's answers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest

from forcegate.clock import FixedClock
from forcegate.devtools import SalesforceEmulator, running_emulator
from forcegate.service.enrollment_sign_in import ADMIN_QUERY

CLIENT = "3MVG9_web_app"
SECRET = "web-app-secret-0123456789"
CALLBACK = "https://auth.example.com/enroll/callback"
ORG_ID = "00D5g000004ABCDEA4"
ADMIN_ID = "0055g00000AbCdEAAV"
VERIFIER = "v" * 43
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")


@pytest.fixture
def base() -> Iterator[tuple[SalesforceEmulator, str]]:
    emulator = SalesforceEmulator(FixedClock(1_780_000_000.0))
    emulator.add_user(ORG_ID, ADMIN_ID, "admin@acme.example", permissions=("CustomizeApplication",))
    emulator.add_user(ORG_ID, "0055g00000XyZwE", "user@acme.example")
    emulator.web.add_web_app(CLIENT, SECRET, CALLBACK)
    with running_emulator(emulator) as url:
        yield emulator, url


def authorize(url: str, **overrides: str) -> httpx.Response:
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": CALLBACK,
        "state": "s1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **overrides,
    }
    return httpx.get(f"{url}/services/oauth2/authorize?{urlencode(params)}", timeout=10)


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def token(url: str, code: str, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
        **overrides,
    }
    return httpx.post(f"{url}/services/oauth2/token", data=form, timeout=10)


def test_code_token_identity_and_admin_query(base: tuple[SalesforceEmulator, str]) -> None:
    emulator, url = base
    emulator.web.sign_in_as("admin@acme.example")
    answer = token(url, code_from(authorize(url)))
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"}
    assert body["id"] == f"{url}/id/{ORG_ID}/{ADMIN_ID}"
    bearer = {"authorization": f"Bearer {body['access_token']}"}
    identity = httpx.get(body["id"], headers=bearer, timeout=10).json()
    assert (identity["organization_id"], identity["user_id"], identity["username"]) == (
        ORG_ID,
        ADMIN_ID,
        "admin@acme.example",
    )
    query = f"{url}/services/data/v60.0/query?q={quote(ADMIN_QUERY.format(user_id=ADMIN_ID))}"
    result = httpx.get(query, headers=bearer, timeout=10).json()
    assert result["totalSize"] == 1
    assert result["records"][0]["attributes"]["type"] == "PermissionSetAssignment"


def test_the_token_endpoints_refusals(base: tuple[SalesforceEmulator, str]) -> None:
    emulator, url = base
    emulator.web.sign_in_as("admin@acme.example")
    code = code_from(authorize(url))
    assert token(url, code, client_id="nope").json() == {
        "error": "invalid_client_id",
        "error_description": "client identifier invalid",
    }
    assert token(url, code, client_secret="wrong").json()["error"] == "invalid_client"
    assert token(url, code, code_verifier="w" * 43).json() == {
        "error": "invalid_grant",
        "error_description": "invalid code verifier",
    }
    # The code was spent by the attempt above: a code is single use.
    assert token(url, code).json() == {"error": "invalid_grant", "error_description": "expired authorization code"}
    other = code_from(authorize(url))
    assert token(url, other, redirect_uri="https://evil.example/cb").json()["error"] == "redirect_uri_mismatch"


def test_the_authorize_endpoints_refusals(base: tuple[SalesforceEmulator, str]) -> None:
    emulator, url = base
    emulator.web.sign_in_as("admin@acme.example")
    unknown = authorize(url, client_id="nope")
    assert unknown.status_code == 400
    assert "invalid_client_id" in unknown.text
    assert authorize(url, redirect_uri="https://evil.example/cb").status_code == 400  # never redirected
    missing = authorize(url, code_challenge="")
    assert "missing+required+code+challenge" in missing.headers["location"]
    emulator.web.deny_next()
    denied = authorize(url)
    assert "error=access_denied" in denied.headers["location"]


def test_a_user_without_setup_access_cannot_read_assignments(base: tuple[SalesforceEmulator, str]) -> None:
    emulator, url = base
    emulator.web.sign_in_as("user@acme.example")
    access = token(url, code_from(authorize(url))).json()["access_token"]
    query = f"{url}/services/data/v60.0/query?q={quote(ADMIN_QUERY.format(user_id='0055g00000XyZwEAAR'))}"
    refused = httpx.get(query, headers={"authorization": f"Bearer {access}"}, timeout=10)
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_TYPE"
    assert httpx.get(query, headers={"authorization": "Bearer dead"}, timeout=10).status_code == 401
    assert httpx.get(f"{url}/id/{ORG_ID}/{ADMIN_ID}", headers={"authorization": f"Bearer {access}"}).status_code == 403
