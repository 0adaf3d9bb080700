"""``forcegate demo`` end to end: a throwaway service, an emulated org, every path, then clean up.

Everything the demo makes lives in one temporary folder (the service's data folder, its output, the
org's certificate) that is deleted on every way out unless ``keep``; the service is a child process
group stopped on every way out (see :mod:`forcegate.devtools.demo.service`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from forcegate.devtools.demo import named_credential_step, onboarding, outbound, steps
from forcegate.devtools.demo.org import DemoOrg, new_demo_org
from forcegate.devtools.demo.report import Reporter, abbreviate
from forcegate.devtools.demo.service import (
    ADMIN_TOKEN_MARKER,
    DemoError,
    DemoService,
    free_port,
    port_in_use,
    running_service,
    shown_log_lines,
)
from forcegate.devtools.emulator import SalesforceEmulator, running_emulator

__all__ = ["DemoOptions", "run_demo"]

EXIT_OK = 0
EXIT_FAILED = 1
HTTP_TIMEOUT = 10.0
_LOG_TAIL = 20
STEP_AUDIT = "What the audit log recorded"
# The Canvas request after logout, and the replayed Apex JWT.
EXPECTED_REFUSALS = frozenset({"canvas_session_not_live", "assertion_replayed"})
# The Canvas liveness check runs for real: the service asks the emulated org's userinfo endpoint.
SERVICE_ENVIRONMENT = {"FORCEGATE_CANVAS_LIVENESS_CHECK": "1"}
# The emulator is not on Salesforce's domains: the check may call it only because its exact origin
# is configured (development mode would not do: it never relaxes a check).
INSTANCE_DOMAINS = "FORCEGATE_CANVAS_INSTANCE_DOMAINS"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    keep: bool = False
    port: int | None = None
    verbose: bool = False


@dataclass(frozen=True, slots=True)
class EmulatedSalesforce:
    """The local Salesforce the org lives on: its base URL is the org's instance URL."""

    emulator: SalesforceEmulator
    url: str


@contextlib.contextmanager
def _salesforce() -> Iterator[EmulatedSalesforce]:
    emulator = SalesforceEmulator()
    with running_emulator(emulator) as url:
        yield EmulatedSalesforce(emulator, url)


def _port(requested: int | None) -> int:
    if requested is None:
        return free_port()
    if port_in_use(requested):
        raise DemoError("start the service", f"port {requested} on 127.0.0.1 is already in use")
    return requested


def _start_heading(reporter: Reporter, folder: Path) -> None:
    reporter.heading(1, "Start forcegate serve on a temporary data folder")
    reporter.note(f"data folder: {folder / 'data'} (the embedded default: SQLite)")
    for name, value in SERVICE_ENVIRONMENT.items():
        reporter.note(f"{name}={value}: Canvas sessions are checked at the org's userinfo endpoint")


def _started(reporter: Reporter, service: DemoService, salesforce: EmulatedSalesforce) -> None:
    reporter.note(f"forcegate serve (pid {service.pid}) is ready at {service.url}")
    reporter.note(f"admin token printed at first start: {abbreviate(service.admin_token)}")
    reporter.note(f"emulated Salesforce (token and userinfo endpoints) at {salesforce.url}")
    reporter.note(f"{INSTANCE_DOMAINS}={salesforce.url}: the liveness check may call the emulator's exact origin")


def _service_environment(salesforce: EmulatedSalesforce) -> dict[str, str]:
    return {**SERVICE_ENVIRONMENT, INSTANCE_DOMAINS: salesforce.url}


def _audit(reporter: Reporter, admin: httpx.Client) -> None:
    """What the audit log recorded: every decision, each refusal with its precise reason."""
    response = admin.get("/admin/api/v1/audit", params={"limit": 60})
    if response.status_code != 200:
        raise DemoError(STEP_AUDIT, f"GET /admin/api/v1/audit answered {response.status_code}")
    events: list[dict[str, Any]] = list(reversed(response.json()))
    rows = [[e["result"], e["credential"] or "-", e["endpoint"], e["code"] or "-"] for e in events]
    reporter.table(["result", "credential", "endpoint", "code"], rows)
    missing = EXPECTED_REFUSALS - {e["code"] for e in events if e["result"] == "denied"}
    if missing:
        raise DemoError(STEP_AUDIT, f"refusals missing from the audit log: {', '.join(sorted(missing))}")


def _canvas(reporter: Reporter, client: httpx.Client, org: DemoOrg, salesforce: EmulatedSalesforce) -> dict[str, Any]:
    session = salesforce.emulator.issue_session_token(org_id=org.org_id, user_id=org.user_id)
    reporter.note(f"client.oauthToken: a session of the emulated org ({abbreviate(session)})")
    signed_request = org.signed_request(oauth_token=session)
    identity = steps.canvas(reporter, client, org, signed_request=signed_request)
    salesforce.emulator.revoke_session(session)
    steps.canvas_after_logout(reporter, client, signed_request=signed_request)
    return identity


def _play(
    reporter: Reporter,
    service: DemoService,
    org: DemoOrg,
    salesforce: EmulatedSalesforce,
    enrolling: onboarding.EnrollingOrg,
) -> None:
    headers = {"authorization": f"Bearer {service.admin_token}"}
    with (
        httpx.Client(base_url=service.url, timeout=HTTP_TIMEOUT, trust_env=False) as client,
        httpx.Client(base_url=service.url, timeout=HTTP_TIMEOUT, trust_env=False, headers=headers) as admin,
    ):
        audit = AuditCursor(admin)
        try:
            _steps(reporter, client, admin, org, salesforce, service.url, audit, enrolling)
        except DemoError as exc:
            # Refusals are terse by design (invalid_grant); the audit log has the precise reason.
            raise DemoError(exc.step, exc.reason + audit.refusals_since_mark()) from None


class AuditCursor:
    """Remembers the newest audit event id at the start of a step, to name that step's refusals."""

    def __init__(self, admin: httpx.Client) -> None:
        self._admin = admin
        self._mark = 0

    def _events(self, limit: int) -> list[dict[str, Any]]:
        try:
            response = self._admin.get("/admin/api/v1/audit", params={"limit": limit})
            events = response.json() if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return []  # the audit hint is a courtesy: never let it hide the failure itself
        return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []

    def mark(self) -> None:
        newest = self._events(1)
        self._mark = int(newest[0]["id"]) if newest else 0

    def refusals_since_mark(self) -> str:
        """`` (the audit log: code: detail; …)`` for the refusals since :meth:`mark`, else nothing."""
        found = [e for e in self._events(50) if int(e["id"]) > self._mark and e.get("result") == "denied"]
        if not found:
            return ""
        return " (the audit log: " + "; ".join(f"{e.get('code')}: {e.get('detail')}" for e in reversed(found)) + ")"


def _steps(
    reporter: Reporter,
    client: httpx.Client,
    admin: httpx.Client,
    org: DemoOrg,
    salesforce: EmulatedSalesforce,
    service_url: str,
    audit: AuditCursor,
    enrolling: onboarding.EnrollingOrg,
) -> None:
    def begin(number: int, title: str) -> None:
        reporter.heading(number, title)
        audit.mark()

    begin(2, steps.STEP_REGISTER)
    steps.register(reporter, admin, org)
    begin(3, steps.STEP_CANVAS)
    identities = {"canvas": _canvas(reporter, client, org, salesforce)}
    begin(4, steps.STEP_APEX)
    identities["jwt-bearer"] = steps.apex_exchange(reporter, client, org, service_url)
    begin(5, steps.STEP_DIRECT)
    identities["jwt"] = steps.direct_jwt(reporter, client, org, service_url)
    begin(6, named_credential_step.STEP_NAMED_CREDENTIAL)
    named_credential_step.named_credential_callout(reporter, client, admin, org, service_url)
    begin(7, steps.STEP_SAME_SHAPE)
    steps.same_shape(reporter, identities)
    begin(8, outbound.STEP_OUTBOUND)
    outbound.call_salesforce(reporter, org, salesforce.emulator, salesforce.url)
    _onboarding(begin, reporter, client, admin, enrolling, salesforce, service_url)
    begin(15, STEP_AUDIT)
    _audit(reporter, admin)


def _onboarding(
    begin: Callable[[int, str], None],
    reporter: Reporter,
    client: httpx.Client,
    admin: httpx.Client,
    org: onboarding.EnrollingOrg,
    salesforce: EmulatedSalesforce,
    service_url: str,
) -> None:
    """A second org enrolls its own certificate, is approved, calls, rotates, and lists its expiry."""
    begin(9, onboarding.STEP_ENROLL)
    enrollment_id, code = onboarding.sign_in_and_upload(reporter, salesforce.emulator, org, service_url, salesforce.url)
    begin(10, onboarding.STEP_PROOF)
    onboarding.prove(reporter, client, org, service_url, code)
    begin(11, onboarding.STEP_APPROVE)
    onboarding.approve(reporter, admin, enrollment_id)
    begin(12, onboarding.STEP_CALL)
    onboarding.call_with(onboarding.STEP_CALL, reporter, client, org, service_url, onboarding.FIRST_CERT)
    begin(13, onboarding.STEP_ROTATE)
    onboarding.rotate(reporter, client, org, service_url)
    token = onboarding.call_with(onboarding.STEP_ROTATE, reporter, client, org, service_url, onboarding.SECOND_CERT)
    reporter.note("and the old certificate still works during the overlap:")
    onboarding.call_with(onboarding.STEP_ROTATE, reporter, client, org, service_url, onboarding.FIRST_CERT)
    begin(14, onboarding.STEP_EXPIRY)
    onboarding.expiry_listing(reporter, client, token)


def _demo(reporter: Reporter, folder: Path, options: DemoOptions) -> None:
    _start_heading(reporter, folder)
    port = _port(options.port)
    log = folder / "serve.log"
    try:
        with _salesforce() as salesforce:
            org = new_demo_org(instance_url=salesforce.url)
            salesforce.emulator.add_user(org.org_id, org.user_id, org.username, email=org.username, name="Ada Lovelace")
            (folder / "demo_jwt.crt").write_text(org.certificate_pem)
            enrolling = onboarding.new_enrolling_org(salesforce.emulator, f"http://127.0.0.1:{port}")
            environment = _service_environment(salesforce) | onboarding.enrollment_environment(
                enrolling, salesforce.url
            )
            with running_service(folder / "data", port=port, log=log, extra_env=environment) as service:
                _started(reporter, service, salesforce)
                _play(reporter, service, org, salesforce, enrolling)
    finally:
        if options.verbose and log.exists():
            reporter.heading(16, "The service's output")
            for line in shown_log_lines(log):
                reporter.note(line)


def run_demo(options: DemoOptions, *, echo: Callable[[str], None], echo_err: Callable[[str], None]) -> int:
    """Run the demo; 0 when every step gave the expected answer, 1 (and one line on ``echo_err``) otherwise."""
    reporter = Reporter(echo)
    folder = Path(tempfile.mkdtemp(prefix="forcegate-demo-"))
    try:
        _demo(reporter, folder, options)
    except DemoError as exc:
        _show_log_tail(folder / "serve.log", echo_err, unless=options.verbose)
        echo_err(f"forcegate demo: step {reporter.step} failed ({exc.step}): {exc.reason}")
        return EXIT_FAILED
    finally:
        if options.keep:
            echo(f"\nkept {folder} (data folder, service output, the org's certificate)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    reporter.line()
    reporter.line("forcegate demo: every step succeeded; the service is stopped.")
    return EXIT_OK


def _show_log_tail(log: Path, echo_err: Callable[[str], None], *, unless: bool) -> None:
    """What the service said after its start-up banner (a warning, a traceback), if anything."""
    if unless:
        return
    lines = shown_log_lines(log)
    banner_end = next((i + 2 for i, line in enumerate(lines) if ADMIN_TOKEN_MARKER in line), 0)
    lines = lines[banner_end:][-_LOG_TAIL:]
    if lines:
        echo_err("forcegate demo: the service's last output:")
        for line in lines:
            echo_err(f"  {line}")
