"""The console in a real browser: Playwright driving Debian's Chromium against a live server.

One operator's session walks through the console: sign in, add an org and a certificate (listed,
flagged as expiring), approve an enrollment, rotate a consumer secret, the debugger's verdicts for a
valid and a tampered JWT, a forged form post refused, sign out; then a name is locked out. Every page
is checked with axe-core (no serious or critical finding), screenshotted at 1366x768 and 390x844
into test-artifacts/console/, and must not scroll sideways at either size.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from forcegate.clock import FixedClock
from forcegate.service.console_sign_in import ConsoleSignIn
from forcegate.stores.models import AuditEvent, Enrollment
from forcegate.stores.opening import open_stores
from helpers import self_signed
from server.console.support import PASSWORD
from server.live import CONSUMER_KEY, CONSUMER_SECRET, ORG_ID, OTHER_ORG_ID, LiveServer, Org, make_org, start_server

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "tools" / "console-axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "console"
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}
NEW_ORG = "00D5g000009ZZZZEA4"
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # an enrollment id's characters
ENROLLING_ORG = "00D5g000007QQQQEA4"


@dataclass
class Served:
    server: LiveServer
    clock: FixedClock
    org: Org


@pytest.fixture
def served(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> Iterator[Served]:
    """The live server with an org, its certificate, an any-org app, an operator, a pending enrollment
    and a day of decisions. Set up before the browser starts: Playwright's sync API then holds the
    thread's event loop."""
    clock = FixedClock(float(int(time.time())))
    server = start_server(tmp_path / "data", clock=clock)
    try:
        org = make_org(ORG_ID, rsa_key, clock)
        with server.admin() as admin:
            assert admin.post("/admin/api/v1/orgs", json={"org_id": ORG_ID, "name": "Acme Corp"}).status_code == 201
            legacy = admin.post("/admin/api/v1/orgs", json={"org_id": OTHER_ORG_ID, "name": "Legacy Co"})
            assert legacy.status_code == 201
            cert = admin.post(f"/admin/api/v1/orgs/{ORG_ID}/certificates", json={"certificate": org.certificate_pem})
            assert cert.status_code == 201, cert.text
            app = admin.post(
                "/admin/api/v1/apps",
                json={
                    "consumer_key": CONSUMER_KEY,
                    "name": "Orders Canvas",
                    "secret": CONSUMER_SECRET,
                    "any_org": True,
                },
            )
            assert app.status_code == 201, app.text
        _seed(server, clock, other_rsa_key)
        yield Served(server, clock, org)
    finally:
        server.stop()


@pytest.fixture
def browser(served: Served) -> Iterator[Browser]:
    # Never skipped: a machine without them fails here, saying what to install.
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    assert AXE.exists(), f"{AXE} is missing: npm ci --prefix tools/console-axe (scripts/test does)"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def _seed(server: LiveServer, clock: FixedClock, enrolling_key: rsa.RSAPrivateKey) -> None:
    """An operator, a pending enrollment and a day of decisions, written as the service would."""

    async def seed() -> None:
        stores = await open_stores(server.settings, migrate="check")
        try:
            await ConsoleSignIn(stores, clock=clock).create_operator("alice", PASSWORD)
            now = clock.now()
            certificate = self_signed(enrolling_key, cn="enrolling-org")
            der = certificate.public_bytes(Encoding.DER)
            await stores.enrollments.add_enrollment(
                Enrollment(
                    enrollment_id="enr_"
                    + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(20)),
                    org_id=ENROLLING_ORG,
                    user_id="0055g00000AbCdEAAV",
                    username="admin@enrolling.example",
                    certificate_der=der,
                    sha256_fingerprint=hashlib.sha256(der).hexdigest(),
                    state="pending_approval",
                    code_digest=hashlib.sha256(b"code").hexdigest(),
                    code_expires_at=now + 3600,
                    proven_at=now - 60,
                    created_at=now - 600,
                    updated_at=now - 60,
                )
            )
            kinds = ["jwt-bearer", "jwt-bearer", "canvas", "access-token", "jwt"]
            events = [
                AuditEvent(
                    at=now - hour * 3600 - minute * 60,
                    endpoint="/oauth2/token",
                    credential=kinds[(hour + minute) % len(kinds)],
                    result="denied" if (hour + minute) % 7 == 0 else "allowed",
                    code="token_expired" if (hour + minute) % 7 == 0 else "ok",
                    detail="seeded",
                    org_id=ORG_ID,
                    verified=True,
                )
                for hour in range(24)
                for minute in range(0, 60, 12 + hour % 5)
            ]
            # An org still arriving through Canvas only: the overview lists it as one to contact.
            events += [
                AuditEvent(
                    at=now - hour * 3600,
                    endpoint="/canvas",
                    credential="canvas",
                    result="allowed",
                    code="ok",
                    org_id=OTHER_ORG_ID,
                )
                for hour in range(0, 24, 3)
            ]
            await stores.audit.append(events)
        finally:
            await stores.close()

    asyncio.run(seed())


def _check_page(browser: Browser, context: BrowserContext, page: Page, name: str, *, posted: bool = False) -> None:
    """axe-core on the page (in a context allowed to inject it), then screenshots at both sizes with
    no horizontal overflow. ``posted``: the page answered a form, so it is checked from its HTML."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = page.url
    # The console's CSP forbids every script: only this checking context may bypass it, to inject axe.
    # Checked at both sizes: the narrow layout is another page for a screen reader and the keyboard.
    for width, height in SIZES.values():
        checker = browser.new_context(
            bypass_csp=True, storage_state=context.storage_state(), viewport={"width": width, "height": height}
        )
        try:
            audited = checker.new_page()
            if posted:  # a POST's answer cannot be fetched again: the same document, on the same origin
                audited.goto(url.split("/console")[0] + "/console/sign-in")
                audited.set_content(page.content())
            else:
                audited.goto(url)
            audited.add_script_tag(path=str(AXE))
            found: dict[str, Any] = audited.evaluate("async () => await axe.run(document)")
            serious = [
                f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
                for v in found["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert serious == [], f"{name} at {width}x{height}: {serious}"
        finally:
            checker.close()
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}x{height}: {_widest(page)}"
    page.set_viewport_size({"width": 1366, "height": 768})


def _widest(page: Page) -> list[str]:
    """The elements reaching past the viewport's right edge (for the failure message)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 8)
            .map(e => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""
    )
    return found


def _assertion(org: Any, audience: str) -> str:
    return str(org.assertion(audience))


def test_an_operator_runs_the_registry_from_the_console(tmp_path: Path, served: Served, browser: Browser) -> None:
    server, org = served.server, served.org
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()

    # The root page links to the console; the console asks for a sign-in.
    page.goto(server.url + "/")
    _check_page(browser, context, page, "root")
    page.get_by_role("link", name="Admin console").click()
    assert page.url.endswith("/console/sign-in")
    _check_page(browser, context, page, "sign-in")
    page.get_by_label("Operator name").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert page.url == server.url + "/console"
    assert page.locator(".operator").inner_text() == "alice"
    assert page.locator("svg.chart rect").count() > 10  # the 24 h chart drew bars
    _check_page(browser, context, page, "overview")

    # Add an org, then a certificate expiring in 20 days: listed, flagged as expiring.
    _nav(page, "Orgs")
    page.get_by_label("Org id").fill(NEW_ORG)
    page.get_by_label("Name", exact=True).fill("Zenith Retail")
    page.get_by_role("button", name="Add org").click()
    assert page.url.endswith(f"/console/orgs/{NEW_ORG}?notice=org_added")
    expiring = self_signed(rsa.generate_private_key(public_exponent=65537, key_size=2048), cn="zenith-signing", days=20)
    pem = tmp_path / "zenith.crt"
    pem.write_bytes(expiring.public_bytes(Encoding.PEM))
    page.get_by_label("Certificate file").set_input_files(str(pem))
    page.get_by_label("Label").fill("zenith 2026")
    page.get_by_role("button", name="Add certificate").click()
    assert "notice=certificate_added" in page.url
    row = page.locator("tr", has_text="zenith 2026")
    assert row.locator(".badge.state-active").inner_text() == "active"
    assert "in 19 days" in row.locator(".badge.state-expiring").inner_text()
    _check_page(browser, context, page, "org")
    _nav(page, "Orgs")
    assert page.locator("td", has_text="Zenith Retail").count() == 1
    page.get_by_label("Search").fill("zenith")
    page.get_by_role("button", name="Search").click()
    assert page.locator("tbody tr").count() == 1
    _check_page(browser, context, page, "orgs")
    _nav(page, "Overview")
    assert page.locator("table", has_text="zenith 2026").count() == 1  # expiring within 30 days

    # Approve the pending enrollment.
    _nav(page, "Enrollments")
    assert page.locator(".enrollment", has_text="admin@enrolling.example").count() == 1
    _check_page(browser, context, page, "enrollments")
    page.get_by_role("button", name=f"Approve the enrollment of org {ENROLLING_ORG}").click()
    assert "notice=enrollment_approved" in page.url
    page.goto(server.url + f"/console/orgs/{ENROLLING_ORG}")
    assert page.locator("tbody .badge.state-active").count() >= 1

    # Rotate the app's consumer secret: shown once, then never again.
    _nav(page, "Apps")
    assert page.locator(".badge.weak").inner_text() == "any org · weaker"
    page.get_by_text("Rotate the consumer secret").click()
    new_secret = "rotated-consumer-secret-" + secrets.token_hex(8)
    page.get_by_label("New consumer secret").fill(new_secret)
    page.get_by_role("button", name="Rotate").click()
    assert page.locator("#rotated-secret").inner_text() == new_secret
    _check_page(browser, context, page, "apps-rotated", posted=True)
    _nav(page, "Apps")
    assert new_secret not in page.content()
    _check_page(browser, context, page, "apps")

    # The debugger: a valid assertion is accepted (and stays unspent), a tampered one refused.
    valid = _assertion(org, server.settings.token_endpoint)
    _nav(page, "Debugger")
    _check_page(browser, context, page, "debugger")
    page.get_by_label("JWT or signed request").fill(valid)
    page.get_by_role("button", name="Check").click()
    assert "passes every check" in page.locator("#verdict").inner_text()
    _check_page(browser, context, page, "debugger-accepted", posted=True)
    head, payload, signature = valid.split(".")
    claims = json.loads(_b64decode(payload))
    claims["sub"] = "mallory@example.com"
    tampered = f"{head}.{_b64encode(json.dumps(claims).encode())}.{signature}"
    page.get_by_label("JWT or signed request").fill(tampered)
    page.get_by_role("button", name="Check").click()
    assert "Failed check: signature" in page.locator("#verdict").inner_text()
    _check_page(browser, context, page, "debugger-refused", posted=True)
    with server.client() as client:  # the valid assertion checked above is still usable
        assert client.post("/oauth2/token", data={"grant_type": _GRANT, "assertion": valid}).status_code == 200

    _nav(page, "Audit log")
    page.get_by_label("Result").select_option("denied")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("tbody tr.denied").count() > 0
    _check_page(browser, context, page, "audit")

    # A form forged on another page: refused, nothing changed.
    forged = context.new_page()
    forged.set_content(
        f"<form method='post' action='{server.url}/console/orgs'><input name='org_id' value='00D5g000008FORGEA4'>"
        "<button>go</button></form>"
    )
    with forged.expect_navigation():
        forged.get_by_role("button", name="go").click()
    assert "This form has expired" in forged.content()
    forged.close()
    page.goto(server.url + "/console/orgs?q=00D5g000008")
    assert page.locator("td", has_text="00D5g000008").count() == 0

    # Sign out: the session is gone.
    page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/console/sign-in?notice=signed_out")
    page.goto(server.url + "/console/audit")
    assert page.url.endswith("/console/sign-in")

    # Lockout: after five wrong passwords even the right one is refused, without being checked.
    for _ in range(5):
        _sign_in(page, "alice", "not the password at all")
        assert "Sign-in failed" in page.locator(".alert").inner_text()
    _sign_in(page, "alice", PASSWORD)
    assert "locked" in page.locator(".alert").inner_text()
    assert page.url.endswith("/console/sign-in")
    _check_page(browser, context, page, "sign-in-locked")
    context.close()


_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _nav(page: Page, section: str) -> None:
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name=section, exact=True).click()


def _sign_in(page: Page, name: str, password: str) -> None:
    page.get_by_label("Operator name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
