"""The demo's steps: register the org, then play Salesforce on each path and check every answer.

Each step prints what goes over the wire and raises :class:`~forcegate.devtools.demo.service.DemoError`
naming itself when an answer is not the one forcegate should give, refusals included: the replayed
JWT must be refused, or the demo fails.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import httpx

from forcegate.devtools.demo.org import DemoOrg
from forcegate.devtools.demo.report import IDENTITY_FIELDS, Reporter
from forcegate.devtools.demo.service import DemoError, expect_status
from forcegate.devtools.token_exchange import GRANT_TYPE, JWTBearerTokenExchange
from forcegate.errors import TokenExchangeError

__all__ = [
    "STEP_APEX",
    "STEP_CANVAS",
    "STEP_DIRECT",
    "STEP_REGISTER",
    "STEP_SAME_SHAPE",
    "apex_exchange",
    "canvas",
    "canvas_after_logout",
    "direct_jwt",
    "register",
    "same_shape",
]

STEP_REGISTER = "Register the Connected App and the org (admin API)"
STEP_CANVAS = "Canvas: Salesforce POSTs a signed request"
STEP_APEX = "Apex: Auth.JWT + Auth.JWS, exchanged with Auth.JWTBearerTokenExchange"
STEP_DIRECT = "Apex: the JWT sent directly as a bearer credential, then replayed"
STEP_SAME_SHAPE = "One identity, whichever way the call came"

ME = "/api/v1/me"


def _post_json(step: str, reporter: Reporter, admin: httpx.Client, path: str, body: dict[str, Any]) -> None:
    reporter.request("POST", path, headers={"Authorization": admin.headers["authorization"]}, form=body)
    response = admin.post(path, json=body)
    reporter.response(response)
    expect_status(step, response, 201)


def register(reporter: Reporter, admin: httpx.Client, org: DemoOrg) -> None:
    """The Connected App (consumer key + secret), the org with its scopes, bound to the app (its Canvas
    requests may open sessions for the org), and the org's certificate."""
    app = {"consumer_key": org.consumer_key, "name": "Acme Canvas (demo)", "secret": org.consumer_secret}
    _post_json(STEP_REGISTER, reporter, admin, "/admin/api/v1/apps", app)
    org_record = {
        "org_id": org.org_id,
        "name": "Acme (demo)",
        "scopes": ["api", "orders:read"],
        "apps": [org.consumer_key],
    }
    _post_json(STEP_REGISTER, reporter, admin, "/admin/api/v1/orgs", org_record)
    certificate = {"certificate": org.certificate_pem, "label": "demo_jwt"}
    reporter.note("the certificate is the public half of Certificate and Key Management's 'demo_jwt' (RSA 2048)")
    _post_json(STEP_REGISTER, reporter, admin, f"/admin/api/v1/orgs/{org.org_id}/certificates", certificate)


def _me(step: str, reporter: Reporter, client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    reporter.request("GET", ME, headers=headers)
    response = client.get(ME, headers=headers)
    reporter.response(response)
    expect_status(step, response, 200)
    identity: dict[str, Any] = response.json()
    return identity


def _check_identity(step: str, identity: Mapping[str, Any], org: DemoOrg, source: str) -> None:
    expected = {
        "source": source,
        "org_id": org.org_id,
        "user_id": org.user_id,
        "username": org.username,
        "parameters": org.parameters,
    }
    wrong = {name: identity.get(name) for name, value in expected.items() if identity.get(name) != value}
    if wrong:
        raise DemoError(step, f"unexpected identity: {wrong} (expected {expected})")


def canvas(reporter: Reporter, client: httpx.Client, org: DemoOrg, *, signed_request: str) -> dict[str, Any]:
    """POST the signed request, follow the session cookie to ``/api/v1/me``; the Canvas identity."""
    reporter.note(f"custom parameters from the CanvasLifecycleHandler's onRender: {json.dumps(org.parameters)}")
    form = {"signed_request": signed_request}
    reporter.request("POST", "/canvas", form=form)
    response = client.post("/canvas", data=form)
    reporter.response(response)
    expect_status(STEP_CANVAS, response, 303)
    cookie = response.headers.get("set-cookie", "").split(";", 1)[0]
    if not cookie:
        raise DemoError(STEP_CANVAS, "the 303 carried no session cookie")
    # The cookie is Secure (it lives in Salesforce's third-party iframe), so an HTTP client would not
    # send it back over plain http to 127.0.0.1: the demo forwards it as the browser would over https.
    identity = _me(STEP_CANVAS, reporter, client, {"Cookie": cookie})
    _check_identity(STEP_CANVAS, identity, org, "canvas")
    reporter.identity(identity)
    return identity


def canvas_after_logout(reporter: Reporter, client: httpx.Client, *, signed_request: str) -> None:
    """The same signed request once its session is over: the liveness check must refuse it."""
    reporter.note("the user logs out of Salesforce; the same signed request, posted again (a reload, or a copy):")
    form = {"signed_request": signed_request}
    reporter.request("POST", "/canvas", form=form)
    response = client.post("/canvas", data=form)
    reporter.line(f"   <- {response.status_code} {response.reason_phrase} (an HTML error page)")
    expect_status(STEP_CANVAS, response, 401)


def _show_claims(reporter: Reporter, compact: str) -> None:
    header, payload, _ = compact.split(".")
    for label, part in (("header", header), ("claims", payload)):
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        reporter.note(f"JWT {label}: {json.dumps(decoded, separators=(',', ':'))}")


def apex_exchange(reporter: Reporter, client: httpx.Client, org: DemoOrg, service_url: str) -> dict[str, Any]:
    """Mint with the org's certificate, exchange at ``/oauth2/token``, call ``/api/v1/me`` with the access token."""
    token_endpoint = service_url + "/oauth2/token"
    jws = org.apex_jws(token_endpoint)
    _show_claims(reporter, jws.compact_serialization())
    reporter.request("POST", token_endpoint, form={"grant_type": GRANT_TYPE, "assertion": jws.compact_serialization()})
    exchange = JWTBearerTokenExchange(token_endpoint, jws, client=client)
    try:
        access_token = exchange.access_token()
    except TokenExchangeError as exc:
        if exc.status_code:
            reporter.response(exchange.http_response())
        raise DemoError(STEP_APEX, f"Auth.JWTBearerTokenExchange failed: {exc}") from None
    reporter.response(exchange.http_response())
    identity = _me(STEP_APEX, reporter, client, {"Authorization": f"Bearer {access_token}"})
    _check_identity(STEP_APEX, identity, org, "jwt-bearer")
    reporter.identity(identity)
    return identity


def direct_jwt(reporter: Reporter, client: httpx.Client, org: DemoOrg, service_url: str) -> dict[str, Any]:
    """A fresh assertion as ``Authorization: Bearer`` to ``/api/v1/me``; the same one again must be refused."""
    assertion = org.apex_jws(service_url).compact_serialization()
    headers = {"Authorization": f"Bearer {assertion}"}
    identity = _me(STEP_DIRECT, reporter, client, headers)
    _check_identity(STEP_DIRECT, identity, org, "jwt")
    reporter.identity(identity)
    reporter.note("the same assertion a second time is a replay (single use):")
    reporter.request("GET", ME, headers=headers)
    replay = client.get(ME, headers=headers)
    reporter.response(replay)
    expect_status(STEP_DIRECT, replay, 401)
    return identity


def same_shape(reporter: Reporter, identities: Mapping[str, Mapping[str, Any]]) -> None:
    """Side by side: the same fields, the same org, user and parameters on every path."""
    shapes = {source: sorted(identity) for source, identity in identities.items()}
    if len({tuple(shape) for shape in shapes.values()}) != 1:
        raise DemoError(STEP_SAME_SHAPE, f"the identities have different fields: {shapes}")
    sources = list(identities)
    rows = []
    for name in IDENTITY_FIELDS:
        cells = [_cell(identities[source].get(name)) for source in sources]
        rows.append([name, *cells])
    reporter.table(["field", *sources], rows)
    for name in ("org_id", "user_id", "username", "parameters"):
        if len({json.dumps(identity.get(name), sort_keys=True) for identity in identities.values()}) != 1:
            raise DemoError(STEP_SAME_SHAPE, f"{name} differs between {', '.join(sources)}")
    reporter.note(f"same fields on every path: {', '.join(shapes[sources[0]])}")


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)
