"""Salesforce's JWT bearer login client, against the emulator and against canned Salesforce answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from blocked_imports import run_python
from forcegate.clock import FixedClock
from forcegate.core.jws import parse_compact
from forcegate.devtools.emulator import SalesforceEmulator, running_emulator
from forcegate.errors import (
    ConfigurationError,
    SalesforceAssertionExpired,
    SalesforceAssertionRejected,
    SalesforceAudienceInvalid,
    SalesforceClientUnknown,
    SalesforceLoginError,
    SalesforceUnavailable,
    SalesforceUserNotApproved,
)
from forcegate.salesforce import AsyncSalesforceSession, SalesforceJWTLogin, SalesforceSession
from forcegate.salesforce.login import check_audience
from helpers import make_jws, self_signed

CONSUMER_KEY = "3MVG9_login_app"
ORG_ID = "00D5g000004ABCDEA4"
USER_ID = "0055g00000AbCdEAAV"
USERNAME = "integration@example.com"
NOW = float(int(dt.datetime.now(dt.UTC).timestamp()))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(rsa_key, cn="connected-app", start=dt.datetime.fromtimestamp(NOW, dt.UTC) - dt.timedelta(days=1))


@pytest.fixture
def emulator(clock: FixedClock, certificate: x509.Certificate) -> SalesforceEmulator:
    emulator = SalesforceEmulator(clock)
    emulator.add_connected_app(CONSUMER_KEY, certificate, scope="api id")
    emulator.add_user(ORG_ID, USER_ID, USERNAME)
    return emulator


@pytest.fixture
def url(emulator: SalesforceEmulator) -> Iterator[str]:
    with running_emulator(emulator) as base_url:
        yield base_url


def _login(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock, login_url: str, **extra: object
) -> SalesforceJWTLogin:
    return SalesforceJWTLogin(
        consumer_key=CONSUMER_KEY,
        username=USERNAME,
        private_key=rsa_key,
        certificate=certificate,
        login_url=login_url,
        clock=clock,
        **extra,  # type: ignore[arg-type]
    )


def test_the_assertion_has_salesforces_claims(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock
) -> None:
    login = _login(rsa_key, certificate, clock, "https://test.salesforce.com")
    jws = parse_compact(login.assertion())
    claims = json.loads(jws.payload)
    assert jws.header == {"alg": "RS256"}
    assert claims["iss"] == CONSUMER_KEY
    assert claims["sub"] == USERNAME
    assert claims["aud"] == "https://test.salesforce.com"
    assert claims["exp"] == NOW + 180
    assert login.token_url == "https://test.salesforce.com/services/oauth2/token"


def test_login_gets_a_token_from_the_emulator(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock, url: str
) -> None:
    token = _login(rsa_key, certificate, clock, url).login(session_timeout=600)
    assert token.instance_url == url
    assert token.scope == "api id"
    assert token.token_type == "Bearer"
    assert (token.org_id, token.user_id) == (ORG_ID, USER_ID)
    assert token.expires_at == NOW + 600
    assert token.access_token not in repr(token)


def test_the_session_caches_until_shortly_before_the_timeout(
    rsa_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    clock: FixedClock,
    emulator: SalesforceEmulator,
    url: str,
) -> None:
    login = _login(rsa_key, certificate, clock, url)
    with SalesforceSession(login, session_timeout=900, refresh_before=60) as session:
        first = session.token()
        clock.advance(839)
        assert session.token() is first
        assert emulator.token_requests == 1
        clock.advance(1)  # 840 s: within refresh_before of the timeout
        assert session.token() is not first
        assert emulator.token_requests == 2


def test_an_invalid_session_id_causes_one_relogin_and_a_retry(
    rsa_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    clock: FixedClock,
    emulator: SalesforceEmulator,
    url: str,
) -> None:
    with SalesforceSession(_login(rsa_key, certificate, clock, url)) as session:
        assert session.request("GET", "/services/data/v62.0/").status_code == 200
        emulator.revoke_all_sessions()  # the org's session timeout passed early
        response = session.request("GET", "/services/data/v62.0/", headers={"Accept": "application/json"})
        assert response.status_code == 200
        assert emulator.token_requests == 2


def test_the_async_session_logs_in_and_relogins(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock, emulator: SalesforceEmulator
) -> None:
    login = _login(rsa_key, certificate, clock, "https://acme.my.salesforce.com")

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=emulator.app)
        async with (
            httpx.AsyncClient(transport=transport) as client,
            AsyncSalesforceSession(login, client=client) as session,
        ):
            statuses = [(await session.request("GET", "/services/data/v62.0/")).status_code]
            emulator.revoke_all_sessions()
            statuses.append((await session.request("GET", "/services/data/v62.0/")).status_code)
            token = await session.token()
            assert token.instance_url == "https://acme.my.salesforce.com"
            return statuses

    assert asyncio.run(run()) == [200, 200]
    assert emulator.token_requests == 2


@pytest.mark.parametrize(
    ("body", "error_class"),
    [
        ({"error": "invalid_client_id", "error_description": "client identifier invalid"}, SalesforceClientUnknown),
        ({"error": "invalid_grant", "error_description": "invalid assertion"}, SalesforceAssertionRejected),
        ({"error": "invalid_grant", "error_description": "audience is invalid"}, SalesforceAudienceInvalid),
        ({"error": "invalid_grant", "error_description": "expired authorization code"}, SalesforceAssertionExpired),
        (
            {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
            SalesforceUserNotApproved,
        ),
        (
            {"error": "invalid_grant", "error_description": "user is not admin approved to access this app"},
            SalesforceUserNotApproved,
        ),
        ({"error": "invalid_grant", "error_description": "something new"}, SalesforceLoginError),
    ],
)
def test_salesforce_errors_map_to_typed_errors(
    rsa_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    clock: FixedClock,
    body: dict[str, str],
    error_class: type[SalesforceLoginError],
) -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.content.decode())
        return httpx.Response(400, json=body)

    login = _login(rsa_key, certificate, clock, "https://login.salesforce.com")
    with httpx.Client(transport=httpx.MockTransport(answer)) as client, pytest.raises(SalesforceLoginError) as caught:
        login.login(client=client)
    assert type(caught.value) is error_class
    assert caught.value.error == body["error"]
    assert caught.value.error_description == body["error_description"]
    assert caught.value.status_code == 400
    assertion = sent[0].split("assertion=")[1]
    assert assertion not in str(caught.value)
    assert sent[0].startswith("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=")


def test_the_emulators_refusal_reaches_the_caller_typed(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock, emulator: SalesforceEmulator, url: str
) -> None:
    login = SalesforceJWTLogin(
        consumer_key=CONSUMER_KEY, username="stranger@example.com", private_key=rsa_key, certificate=certificate,
        login_url=url, clock=clock,
    )  # fmt: skip
    with pytest.raises(SalesforceUserNotApproved):
        login.login()


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(503, text="Service Unavailable"), httpx.Response(200, text="<html>"), httpx.Response(200, json={})],
)
def test_unusable_answers_are_unavailable(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock, answer: httpx.Response
) -> None:
    login = _login(rsa_key, certificate, clock, "https://login.salesforce.com")
    with httpx.Client(transport=httpx.MockTransport(lambda _: answer)) as client, pytest.raises(SalesforceUnavailable):
        login.login(client=client)


def test_an_unreachable_salesforce_is_unavailable_and_nothing_secret_is_logged(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    login = _login(rsa_key, certificate, clock, "https://login.salesforce.com")
    caplog.set_level(logging.DEBUG)
    with httpx.Client(transport=httpx.MockTransport(refuse)) as client, pytest.raises(SalesforceUnavailable) as caught:
        login.login(client=client)
    assertion = login.assertion()
    assert assertion.split(".")[2] not in str(caught.value)
    assert assertion.split(".")[1] not in caplog.text


@pytest.mark.parametrize(
    "audience",
    [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        "https://acme.my.salesforce.com",
        "https://acme--uat.sandbox.my.salesforce.com",
        "http://127.0.0.1:8123",
    ],
)
def test_accepted_audiences(audience: str) -> None:
    assert check_audience(audience) == audience


@pytest.mark.parametrize(
    "audience",
    [
        "https://login.salesforce.com/",
        "http://login.salesforce.com",
        "https://evil.example.com",
        "https://my.salesforce.com",
        "https://login.salesforce.com/services/oauth2/token",
        "https://acme.my.salesforce.com:8443",
    ],
)
def test_refused_audiences(audience: str) -> None:
    with pytest.raises(ConfigurationError):
        check_audience(audience)


def test_lifetime_and_login_url_are_checked(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock
) -> None:
    with pytest.raises(ConfigurationError, match="assertion_lifetime"):
        _login(rsa_key, certificate, clock, "https://login.salesforce.com", assertion_lifetime=181)
    with pytest.raises(ConfigurationError, match="https"):
        _login(rsa_key, certificate, clock, "http://login.salesforce.com")


def test_the_assertion_is_signed_by_the_shared_signer(
    rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock
) -> None:
    # Claims in Apex's order with nbf = now, RS256 over those exact bytes: what the emulation mints too.
    assertion = _login(rsa_key, certificate, clock, "https://login.salesforce.com").assertion()
    now = int(NOW)
    claims = {"iss": CONSUMER_KEY, "sub": USERNAME, "aud": "https://login.salesforce.com", "exp": now + 180, "nbf": now}
    assert assertion == make_jws(claims, rsa_key)


def test_the_key_must_be_one_salesforce_verifies_with_the_certificate(
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    weak_rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
    clock: FixedClock,
) -> None:
    url = "https://login.salesforce.com"
    with pytest.raises(ConfigurationError, match="public half"):
        _login(other_rsa_key, certificate, clock, url)
    with pytest.raises(ConfigurationError, match="1024 bits"):
        _login(weak_rsa_key, self_signed(weak_rsa_key), clock, url)
    with pytest.raises(ConfigurationError, match="RSA signatures only"):
        _login(ec_key, self_signed(ec_key), clock, url)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"x509\.Certificate"):
        _login(rsa_key, "not a certificate", clock, url)  # type: ignore[arg-type]


def test_without_httpx_the_import_error_names_the_extra() -> None:
    result = run_python(
        "import forcegate.salesforce\n"
        "try:\n"
        "    import forcegate.salesforce.login\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.name, exc, sep='|')\n",
        blocked=["httpx"],
    )
    assert result.returncode == 0, result.stderr
    kind, name, message = result.stdout.strip().split("|")
    assert (kind, name) == ("MissingExtra", "httpx")
    assert "pip install 'forcegate[salesforce]'" in message


def test_the_login_names_load_on_first_use_and_the_metadata_reader_needs_no_httpx() -> None:
    result = run_python(
        "import forcegate.salesforce as sf\n"
        "assert sf.parse_connected_app is not None\n"
        "assert 'forcegate.salesforce.login' not in sys.modules\n"
        "try:\n"
        "    sf.SalesforceJWTLogin\n"
        "except ImportError as exc:\n"
        "    print(exc)\n",
        blocked=["httpx"],
    )
    assert result.returncode == 0, result.stderr
    assert "forcegate[salesforce]" in result.stdout
