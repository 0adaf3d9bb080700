"""The demo's onboarding steps: a second org enrolls its own certificate and later rotates it.

Played as the subscriber admin's browser (the ``/enroll`` pages, Salesforce's login emulated) and as
the package's setup page (its Apex: :mod:`forcegate.devtools.setup_page`), with the ISV approving in
between. Every answer is checked; a step that gets another raises
:class:`~forcegate.devtools.demo.service.DemoError` naming itself.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.devtools.apex_jwt import AuthJWS, AuthJWT, CertificateAndKeyManagement
from forcegate.devtools.demo.org import rsa_certificate
from forcegate.devtools.demo.report import Reporter, abbreviate
from forcegate.devtools.demo.service import DemoError, expect_status
from forcegate.devtools.emulator import SalesforceEmulator
from forcegate.devtools.setup_page import proof_assertion, rotation_form
from forcegate.devtools.token_exchange import GRANT_TYPE

__all__ = [
    "ENROLLMENT_CLIENT_ID",
    "STEP_APPROVE",
    "STEP_CALL",
    "STEP_ENROLL",
    "STEP_EXPIRY",
    "STEP_PROOF",
    "STEP_ROTATE",
    "EnrollingOrg",
    "approve",
    "call_with",
    "enrollment_environment",
    "expiry_listing",
    "new_enrolling_org",
    "prove",
    "rotate",
    "sign_in_and_upload",
]

STEP_ENROLL = "Enrollment: a second org's admin signs in with Salesforce and uploads a certificate"
STEP_PROOF = "Proof of possession: the package's setup page signs the one-time code"
STEP_APPROVE = "The ISV approves the enrollment (admin API)"
STEP_CALL = "A call signed with the newly enrolled certificate"
STEP_ROTATE = "Rotation from the org: the trusted certificate vouches for its successor"
STEP_EXPIRY = "Expiry watch: the org lists its certificates"

ENROLLMENT_CLIENT_ID = "3MVG9demo.enrollment"
ORG_ID = "00D5g000008GlbXEAS"
USER_ID = "0055g00000GlbEAAAZ"
USERNAME = "admin@globex.example"
FIRST_CERT = "globex_jwt"
SECOND_CERT = "globex_jwt_2027"
_CODE = re.compile(r"<pre id='code'>([^<]+)</pre>")
_FORM_TOKEN = re.compile(r"name='form_token' value='([^']+)'")


@dataclass
class EnrollingOrg:
    """The org that enrolls itself: no ISV operator registers it or its certificate."""

    certificates: CertificateAndKeyManagement = field(repr=False)
    client_secret: str = field(repr=False)
    org_id: str = ORG_ID
    user_id: str = USER_ID
    username: str = USERNAME
    current: str = FIRST_CERT

    def certificate(self, name: str) -> x509.Certificate:
        return self.certificates.certificate(name)

    def assertion(self, audience: str, name: str) -> str:
        """What the package's Apex signs for a call, with certificate ``name``."""
        jwt = AuthJWT(
            iss=self.org_id,
            sub=self.username,
            aud=audience,
            additional_claims={"user_id": self.user_id, "forcegate_nonce": secrets.token_hex(16)},
        )
        return AuthJWS(jwt, name, certificates=self.certificates).compact_serialization()


def new_enrolling_org(emulator: SalesforceEmulator, service_url: str) -> EnrollingOrg:
    """The org in Salesforce (an admin holding Customize Application) and the ISV's Connected App there."""
    certificates = CertificateAndKeyManagement()
    key, certificate = rsa_certificate(FIRST_CERT, org_id=ORG_ID)
    certificates.add(FIRST_CERT, private_key=key, certificate=certificate)
    org = EnrollingOrg(certificates=certificates, client_secret=secrets.token_urlsafe(32))
    emulator.add_user(ORG_ID, USER_ID, USERNAME, name="Grace Hopper", permissions=("CustomizeApplication",))
    emulator.web.add_web_app(ENROLLMENT_CLIENT_ID, org.client_secret, service_url + "/enroll/callback")
    return org


def enrollment_environment(org: EnrollingOrg, login_origin: str) -> dict[str, str]:
    """The service's settings for enrollment: the ISV's Connected App, the login host, and manual approval."""
    return {
        "FORCEGATE_ENROLLMENT_CLIENT_ID": ENROLLMENT_CLIENT_ID,
        "FORCEGATE_ENROLLMENT_CLIENT_SECRET": org.client_secret,
        "FORCEGATE_ENROLLMENT_LOGIN_HOSTS": login_origin,
        "FORCEGATE_ENROLLMENT_POLICY": "manual",
    }


def _found(step: str, pattern: re.Pattern[str], text: str, what: str) -> str:
    match = pattern.search(text)
    if match is None:
        raise DemoError(step, f"the page shows no {what}")
    return match.group(1)


def sign_in_and_upload(
    reporter: Reporter, emulator: SalesforceEmulator, org: EnrollingOrg, service_url: str, login_origin: str
) -> tuple[str, str]:
    """The admin's browser through ``/enroll``: the enrollment id and its one-time code."""
    emulator.web.sign_in_as(org.username)
    with httpx.Client(timeout=10.0, trust_env=False, follow_redirects=False) as browser:
        start = f"{service_url}/enroll?{urlencode({'login': login_origin})}"
        reporter.request("GET", start)
        to_salesforce = browser.get(start)
        expect_status(STEP_ENROLL, to_salesforce, 303)
        reporter.note(f"-> 303 to Salesforce's authorize endpoint (PKCE S256) at {login_origin}")
        back = browser.get(to_salesforce.headers["location"])
        expect_status(STEP_ENROLL, back, 302)
        reporter.note(f"{org.username} signs in at Salesforce and approves the Connected App; back to the callback")
        # The enrollment cookie is Secure, so an HTTP client would not send it back over plain http to
        # 127.0.0.1: the demo forwards it as the browser would over https.
        cookie = {"Cookie": to_salesforce.headers.get("set-cookie", "").split(";", 1)[0]}
        upload = browser.get(back.headers["location"], headers=cookie)
        expect_status(STEP_ENROLL, upload, 200)
        reporter.note(f"forcegate checked with the org that {org.username} may administer it: the upload page")
        form_token = _found(STEP_ENROLL, _FORM_TOKEN, upload.text, "upload form")
        pem = org.certificate(FIRST_CERT).public_bytes(Encoding.PEM).decode("ascii")
        reporter.request("POST", "/enroll/certificate", form={"certificate": "-----BEGIN CERTIFICATE-----…"})
        started = browser.post(
            f"{service_url}/enroll/certificate", data={"certificate": pem, "form_token": form_token}, headers=cookie
        )
        expect_status(STEP_ENROLL, started, 200)
    enrollment_id = _found(STEP_ENROLL, re.compile(r"<code id='enrollment_id'>([^<]+)</code>"), started.text, "id")
    code = _found(STEP_ENROLL, _CODE, started.text, "enrollment code")
    reporter.note(f"enrollment {enrollment_id} started; one-time code shown once: {abbreviate(code)}")
    return enrollment_id, code


def prove(reporter: Reporter, client: httpx.Client, org: EnrollingOrg, service_url: str, code: str) -> None:
    """The setup page's Test connection: an assertion signed with the uploaded certificate's key."""
    assertion = proof_assertion(
        org.certificates, FIRST_CERT, org_id=org.org_id, username=org.username, service_url=service_url, code=code
    )
    reporter.request("POST", "/enroll/proof", form={"assertion": assertion})
    response = client.post("/enroll/proof", data={"assertion": assertion})
    reporter.response(response)
    expect_status(STEP_PROOF, response, 200)
    if response.json().get("state") != "pending_approval":
        raise DemoError(STEP_PROOF, f"expected pending_approval under the manual policy, got {response.json()}")
    reporter.note("proven; the deployment's policy is manual, so it waits for the ISV")


def approve(reporter: Reporter, admin: httpx.Client, enrollment_id: str) -> None:
    path = f"/admin/api/v1/enrollments/{enrollment_id}/approve"
    reporter.request("POST", path, headers={"Authorization": admin.headers["authorization"]})
    response = admin.post(path)
    reporter.response(response)
    expect_status(STEP_APPROVE, response, 200)
    if response.json().get("state") != "active":
        raise DemoError(STEP_APPROVE, f"expected the enrollment active, got {response.json()}")


def call_with(step: str, reporter: Reporter, client: httpx.Client, org: EnrollingOrg, url: str, name: str) -> str:
    """Exchange an assertion signed with certificate ``name``, call ``/api/v1/me``; the access token."""
    token_endpoint = url + "/oauth2/token"
    form = {"grant_type": GRANT_TYPE, "assertion": org.assertion(token_endpoint, name)}
    reporter.request("POST", "/oauth2/token", form=form)
    response = client.post("/oauth2/token", data=form)
    reporter.response(response)
    expect_status(step, response, 200)
    access_token: str = response.json()["access_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {access_token}"})
    expect_status(step, me, 200)
    if me.json().get("org_id") != org.org_id:
        raise DemoError(step, f"/api/v1/me names org {me.json().get('org_id')}, expected {org.org_id}")
    reporter.note(f"signed with '{name}': token issued, /api/v1/me answers for org {org.org_id}")
    return access_token


def rotate(reporter: Reporter, client: httpx.Client, org: EnrollingOrg, service_url: str) -> dict[str, Any]:
    """The admin creates a new certificate in Setup and pastes it into the setup page, which sends the rotation."""
    key, certificate = rsa_certificate(SECOND_CERT, org_id=org.org_id)
    org.certificates.add(SECOND_CERT, private_key=key, certificate=certificate)
    reporter.note(
        f"a new certificate '{SECOND_CERT}' in Setup; one payload signed by '{FIRST_CERT}' and '{SECOND_CERT}'"
    )
    form = rotation_form(
        org.certificates, current=FIRST_CERT, new=SECOND_CERT, org_id=org.org_id, username=org.username,
        service_url=service_url,
    )  # fmt: skip
    reporter.request("POST", "/enroll/rotate", form=form)
    response = client.post("/enroll/rotate", data=form)
    reporter.response(response)
    expect_status(STEP_ROTATE, response, 200)
    body: dict[str, Any] = response.json()
    if body.get("state") != "active" or not body.get("retiring"):
        raise DemoError(STEP_ROTATE, f"expected the rotation active with the old certificate retiring, got {body}")
    reporter.note(f"no operator involved; the old certificate stays trusted until {body['retiring']['retire_at']}")
    org.current = SECOND_CERT
    return body


def expiry_listing(reporter: Reporter, client: httpx.Client, access_token: str) -> None:
    """``GET /api/v1/certificates``: what the setup page shows as "expires in N days"."""
    headers = {"Authorization": f"Bearer {access_token}"}
    reporter.request("GET", "/api/v1/certificates", headers=headers)
    response = client.get("/api/v1/certificates", headers=headers)
    expect_status(STEP_EXPIRY, response, 200)
    listed = response.json()["certificates"]
    rows = [
        [c["subject"], str(c["days_to_expiry"]), c["retire_at"] or "-", c["sha256_fingerprint"][:16]] for c in listed
    ]
    reporter.table(["subject", "days to expiry", "retires at", "fingerprint"], rows)
    if len(listed) != 2 or sum(1 for c in listed if c["retire_at"]) != 1:
        raise DemoError(STEP_EXPIRY, f"expected the new certificate and the retiring one, got {listed}")
