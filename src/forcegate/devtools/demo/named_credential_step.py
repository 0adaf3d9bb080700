"""The demo's Named Credential step: the package's other callout mode, as the platform plays it.

``forcegate sfdx scaffold --callout named-credential`` generates an External Credential (OAuth 2.0
JWT Bearer Flow, a per-user principal) and a Named Credential; in the org the platform mints the JWT,
exchanges it at the token endpoint and attaches the access token — Apex only calls
``callout:Forcegate/...``. The demo reads the External Credential from the generated metadata, so
what it sends is what the package would configure (decision 0020).
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx

from forcegate.devtools.demo.org import CERT_NAME, DemoOrg
from forcegate.devtools.demo.report import Reporter
from forcegate.devtools.demo.service import DemoError, expect_status
from forcegate.devtools.named_credential import ExternalCredential, NamedCredential, SalesforceUser
from forcegate.devtools.sfdx import DEFAULT_ISSUER, plan_scaffold
from forcegate.devtools.sfdx._scaffold import SOURCE_ROOT
from forcegate.errors import TokenExchangeError

__all__ = ["STEP_NAMED_CREDENTIAL", "named_credential_callout"]

STEP_NAMED_CREDENTIAL = "Apex, Named Credential mode: the platform mints, exchanges and attaches the token"
_CREDENTIAL = SOURCE_ROOT / "externalCredentials/Forcegate.externalCredential-meta.xml"


def _generated_credential(service_url: str) -> ExternalCredential:
    with tempfile.TemporaryDirectory(prefix="forcegate-demo-sfdx-") as folder:  # planned, never written
        plan = plan_scaffold(Path(folder), service_url=service_url, callout="named-credential")
    return ExternalCredential.from_metadata(plan.files[_CREDENTIAL], name="Forcegate", certificate_name=CERT_NAME)


def named_credential_callout(
    reporter: Reporter, client: httpx.Client, admin: httpx.Client, org: DemoOrg, service_url: str
) -> dict[str, Any]:
    """The org lists the package's issuer; a callout through the Named Credential; its identity."""
    credential = _generated_credential(service_url)
    reporter.note(
        f"External Credential 'Forcegate' from `forcegate sfdx scaffold --callout named-credential`: "
        f"iss {DEFAULT_ISSUER!r} (one value for every subscriber), org_id from {{!$Organization.Id}}"
    )
    path = f"/admin/api/v1/orgs/{org.org_id}"
    change = {"issuers": [org.org_id, DEFAULT_ISSUER]}
    reporter.request("PATCH", path, headers={"Authorization": admin.headers["authorization"]}, form=change)
    listed = admin.patch(path, json=change)
    reporter.line(f"   <- {listed.status_code} {listed.reason_phrase}: the org accepts both issuers")
    expect_status(STEP_NAMED_CREDENTIAL, listed, 200)
    user = SalesforceUser(org_id=org.org_id, user_id=org.user_id, username=org.username)
    named = NamedCredential(url=service_url, credential=credential, certificates=org.certificates, client=client)
    reporter.note("Apex: HttpRequest to 'callout:Forcegate/api/v1/me' (no Authorization header of its own)")
    try:
        response = named.send("GET", "/api/v1/me", user)
    except TokenExchangeError as exc:
        raise DemoError(STEP_NAMED_CREDENTIAL, f"the platform's exchange failed: {exc}") from None
    (exchanged,) = named.token_requests
    claims = json.loads(_segment(exchanged["assertion"], 1))
    reporter.note(f"the platform's JWT header: {_segment(exchanged['assertion'], 0)}")
    reporter.note(f"the platform's JWT claims: {json.dumps(claims, separators=(',', ':'))}")
    reporter.response(response)
    expect_status(STEP_NAMED_CREDENTIAL, response, 200)
    identity: dict[str, Any] = response.json()
    wanted = {"org_id": org.org_id, "username": org.username, "source": "jwt-bearer"}
    wrong = {name: identity.get(name) for name, value in wanted.items() if identity.get(name) != value}
    if wrong:
        raise DemoError(STEP_NAMED_CREDENTIAL, f"unexpected identity: {wrong} (expected {wanted})")
    reporter.identity(identity)
    reporter.note("per-call context (record id, parameters) travels in the request here, not in the token")
    return identity


def _segment(compact: str, index: int) -> str:
    part = compact.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")
