"""The other direction: the service calls Salesforce, logged in by the OAuth 2.0 JWT bearer flow.

The service holds its own certificate, uploaded to the Connected App ("Use digital signatures"), and
:class:`~forcegate.salesforce.login.SalesforceSession` logs in with it and calls the REST API. The demo
ends the session early in the emulated Salesforce to show the one re-login on ``INVALID_SESSION_ID``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx

from forcegate.devtools.demo.org import DemoOrg, rsa_certificate
from forcegate.devtools.demo.report import Reporter
from forcegate.devtools.demo.service import DemoError
from forcegate.devtools.emulator import SalesforceEmulator
from forcegate.errors import SalesforceError
from forcegate.salesforce.login import SalesforceJWTLogin, SalesforceSession

__all__ = ["STEP_OUTBOUND", "call_salesforce"]

STEP_OUTBOUND = "The other direction: the service calls Salesforce (OAuth 2.0 JWT bearer flow)"
SERVICE_CERT_NAME = "forcegate_service"
DATA_ROOT = "/services/data/v62.0/"


def _show_request(reporter: Reporter) -> Callable[[httpx.Request], None]:
    def hook(request: httpx.Request) -> None:
        form = dict(parse_qsl(request.content.decode("ascii"))) if request.method == "POST" else None
        auth = request.headers.get("authorization")
        reporter.request(request.method, str(request.url), headers={"Authorization": auth} if auth else None, form=form)

    return hook


def _show_response(reporter: Reporter) -> Callable[[httpx.Response], None]:
    def hook(response: httpx.Response) -> None:
        response.read()  # the hook runs before the body is read
        reporter.response(response)

    return hook


def _login(org: DemoOrg, emulator: SalesforceEmulator, salesforce_url: str) -> SalesforceJWTLogin:
    key, certificate = rsa_certificate(SERVICE_CERT_NAME)
    emulator.add_connected_app(org.consumer_key, certificate)
    return SalesforceJWTLogin(
        consumer_key=org.consumer_key,
        username=org.username,
        private_key=key,
        certificate=certificate,
        login_url=salesforce_url,
    )


def _get(session: SalesforceSession, path: str) -> httpx.Response:
    try:
        response = session.request("GET", path)
    except SalesforceError as exc:
        raise DemoError(STEP_OUTBOUND, f"the login to Salesforce failed: {exc}") from None
    if response.status_code != 200:
        raise DemoError(STEP_OUTBOUND, f"GET {path} answered {response.status_code}, expected 200")
    return response


def call_salesforce(reporter: Reporter, org: DemoOrg, emulator: SalesforceEmulator, salesforce_url: str) -> None:
    """Log in as the org's user, call the REST API, lose the session, and see the client log in again."""
    login = _login(org, emulator, salesforce_url)
    reporter.note(f"the service's certificate '{SERVICE_CERT_NAME}' (RSA 2048) is uploaded to the Connected App")
    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [_show_request(reporter)],
        "response": [_show_response(reporter)],
    }
    with httpx.Client(trust_env=False, event_hooks=hooks) as client, SalesforceSession(login, client=client) as session:
        _get(session, DATA_ROOT)
        token = session.token()
        if (token.org_id, token.user_id) != (org.org_id, org.user_id):
            raise DemoError(STEP_OUTBOUND, f"logged in as {token.id}, expected org {org.org_id} user {org.user_id}")
        reporter.note(f"logged in to {token.instance_url} as org {token.org_id}, user {token.user_id}")
        reporter.note("Salesforce ends the session early (an admin revoked it); the next call re-logs in once:")
        emulator.revoke_all_sessions()
        _get(session, DATA_ROOT)
    if emulator.token_requests != 2:
        raise DemoError(STEP_OUTBOUND, f"expected 2 logins to Salesforce, saw {emulator.token_requests}")
