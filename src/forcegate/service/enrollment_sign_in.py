"""The Salesforce sign-in of ``GET /enroll``: who is enrolling, for which org, and may they.

OAuth 2.0 web server flow (RFC 6749 §4.1) with PKCE (RFC 7636, S256), against a login host the
deployment allows (``enrollment_login_hosts``), with the ISV's Connected App
(``enrollment_client_id`` / ``enrollment_client_secret``):

1. :meth:`EnrollmentSignIn.begin` — a random browser value (the cookie) and a random ``state``; the
   server keeps their SHA-256 digests (a server-side record, :meth:`EnrollmentStore.begin_sign_in`)
   and the login URL. The PKCE verifier is derived from the browser value (HMAC), so it is never
   stored and only the browser that started the sign-in can finish it.
2. :meth:`EnrollmentSignIn.complete` — the callback: the ``state`` must be the one bound to this
   browser's record (digests compared in constant time, then consumed by one compare-and-set: single
   use); the code is exchanged at the same login URL with the client secret and the verifier;
   Salesforce's identity URL (the token response's ``id``, on a Salesforce domain, its path naming the
   same org and user the identity document names) gives ``organization_id``, ``user_id`` and
   ``username``; then the admin check.
3. **The admin check** (docs/onboarding.md): the user may enroll a certificate for the org only if
   they hold "Customize Application" or "Modify All Data". Asked of the org itself, with the user's own
   token, through the REST API: ``SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '<user>'
   AND IsActive = true AND (PermissionSet.PermissionsCustomizeApplication = true OR
   PermissionSet.PermissionsModifyAllData = true) LIMIT 1``. Every profile has an underlying
   permission set (``IsOwnedByProfile``) with an assignment, and a permission set group's assignment
   points at the group's aggregated permission set, so one query covers profile, permission sets and
   groups. A user who may not read setup data gets an error or nothing: refused
   (:class:`NotOrgAdministrator`).

Salesforce's answers are trusted only from where the settings allow (the login URL, and
``instance_url``/``id`` on Salesforce's domains or a configured loopback origin), over https. No token,
code, state, verifier or secret is logged, stored or shown. The access token is revoked at the login
host once the identity and the admin check are done, allowed or refused (best effort: a failure is
logged, without the token, and changes nothing else).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from forcegate.clock import Clock
from forcegate.core import ids
from forcegate.core.instance_url import InstanceDomains, is_salesforce_page
from forcegate.errors import (
    EnrollmentSignInFailed,
    ForcegateError,
    InvalidSalesforceId,
    NotOrgAdministrator,
    SalesforceUnavailable,
)
from forcegate.service.failure_bound import Claimed
from forcegate.settings import Settings
from forcegate.stores.models import AuditEvent, SignIn
from forcegate.stores.protocols import EnrollmentStore

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ADMIN_QUERY",
    "API_VERSION",
    "CALLBACK_PATH",
    "SCOPE",
    "EnrollmentSignIn",
    "SignedInAdmin",
    "admin_query_path",
    "form_token",
    "judge_admin_answer",
    "pkce_challenge",
    "pkce_verifier",
]

log = logging.getLogger("forcegate.service")

CALLBACK_PATH = "/enroll/callback"
API_VERSION = "v60.0"
#: ``api`` for the permission query; ``id`` for the identity URL.
SCOPE = "api id"
ADMIN_QUERY = (
    "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{user_id}' AND IsActive = true AND "
    "(PermissionSet.PermissionsCustomizeApplication = true OR PermissionSet.PermissionsModifyAllData = true) LIMIT 1"
)
#: From the redirect to Salesforce to the callback; then from the callback to the certificate's upload.
SIGN_IN_SECONDS = 600
SIGNED_IN_SECONDS = 900
TIMEOUT = 10.0
#: The revocation is best effort: an admin waits at most this long for it.
REVOKE_TIMEOUT = 5.0
_MAX_BODY = 256 * 1024
_NOT_REVOKED = "the sign-in's Salesforce access token was not revoked: "
_BROWSER_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")
_CODE = re.compile(r"[\x21-\x7e]{1,2048}")
_STATE = re.compile(r"[A-Za-z0-9_-]{43}")
_IDENTITY_PATH = re.compile(r"/id/(00D[0-9A-Za-z]{12,15})/(005[0-9A-Za-z]{12,15})")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def pkce_verifier(browser_value: str) -> str:
    """RFC 7636 §4.1 ``code_verifier`` (43 characters) derived from the browser's value: never stored."""
    return _b64(hmac.new(browser_value.encode("ascii"), b"forcegate enrollment pkce", hashlib.sha256).digest())


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2 S256: ``BASE64URL(SHA256(ASCII(code_verifier)))``."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def form_token(browser_value: str) -> str:
    """The upload form's anti-forgery field, derived from the browser's value."""
    return _b64(hmac.new(browser_value.encode("ascii"), b"forcegate enrollment form", hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class SignedInAdmin:
    """A Salesforce user who signed in and may administer their org's integration."""

    org_id: str
    user_id: str
    username: str


class EnrollmentSignIn:
    """The sign-in steps over the enrollment store (module docstring); ``transport`` replaces the network in tests."""

    def __init__(
        self,
        settings: Settings,
        store: EnrollmentStore,
        audit: Callable[[AuditEvent], Awaitable[None]],
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._audit = audit
        self._clock = clock
        self._transport = transport
        origins = [entry for entry in settings.enrollment_login_hosts if "://" in entry]
        self._domains = InstanceDomains.parse((*settings.canvas_instance_domains, *origins))

    @property
    def redirect_uri(self) -> str:
        return self._settings.public_url + CALLBACK_PATH

    def login_url(self, login: str) -> str:
        """The login URL for what the admin chose (a host, or an allowed origin), or a refusal."""
        if not self._settings.enrollment_enabled:
            raise EnrollmentSignInFailed("enrollment by Salesforce sign-in is not configured here")
        given = login.strip().lower().rstrip("/")
        for entry in self._settings.enrollment_login_hosts:
            if "://" in entry and given == entry.lower().rstrip("/"):
                return entry.rstrip("/")
        host = given.removeprefix("https://")
        if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,62}\.){1,8}[a-z]{2,63}", host):
            raise EnrollmentSignInFailed("the login host is not a host name")
        for entry in self._settings.enrollment_login_hosts:
            if "://" in entry:
                continue
            if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
                return f"https://{host}"
        raise EnrollmentSignInFailed(f"sign-in at {host} is not allowed here (enrollment_login_hosts)")

    async def begin(self, login: str) -> tuple[str, str]:
        """Start a sign-in at ``login``: the browser's value (for its cookie) and where to send it."""
        base = self.login_url(login)
        browser_value, state = _b64(secrets.token_bytes(32)), _b64(secrets.token_bytes(32))
        now = self._clock.now()
        await self._store.begin_sign_in(
            SignIn(
                id_hash=_digest(browser_value),
                state_hash=_digest(state),
                login_url=base,
                created_at=now,
                expires_at=now + SIGN_IN_SECONDS,
            )
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._settings.enrollment_client_id or "",
                "redirect_uri": self.redirect_uri,
                "scope": SCOPE,
                "state": state,
                "code_challenge": pkce_challenge(pkce_verifier(browser_value)),
                "code_challenge_method": "S256",
            }
        )
        return browser_value, f"{base}/services/oauth2/authorize?{query}"

    async def complete(
        self,
        browser_value: str | None,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        client: str | None = None,
        claimed: Claimed | None = None,
    ) -> SignedInAdmin:
        """The callback (module docstring, steps 2 and 3); audited, allowed or refused. ``claimed``
        learns the org as soon as Salesforce named it (a refusal after that counts against it)."""
        try:
            admin = await self._complete(browser_value, state=state, code=code, error=error, claimed=claimed)
        except ForcegateError as exc:
            await self._record_decision("denied", exc.code, f"enrollment sign-in refused: {exc.reason}", None, client)
            raise
        await self._record_decision(
            "allowed", "enrollment_sign_in", f"signed in as {admin.user_id} to enroll", admin, client
        )
        return admin

    async def _record_decision(
        self, result: str, code: str, detail: str, admin: SignedInAdmin | None, client: str | None
    ) -> None:
        await self._audit(
            AuditEvent(
                at=self._clock.now(),
                endpoint=CALLBACK_PATH,
                credential="salesforce-sign-in",
                result="allowed" if result == "allowed" else "denied",
                code=code,
                detail=detail[:500],
                org_id=None if admin is None else admin.org_id,
                user_id=None if admin is None else admin.user_id,
                subject=None if admin is None else admin.username,
                client=client,
                verified=admin is not None,
            )
        )

    async def _complete(
        self,
        browser_value: str | None,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        claimed: Claimed | None,
    ) -> SignedInAdmin:
        record = await self._record(browser_value)
        if record.completed:
            raise EnrollmentSignInFailed("this sign-in is already complete: start again at /enroll")
        if state is None or not _STATE.fullmatch(state):
            raise EnrollmentSignInFailed("the callback carries no state")
        if not hmac.compare_digest(_digest(state), record.state_hash):
            raise EnrollmentSignInFailed("the state is not this browser's sign-in's")
        if error is not None:
            raise EnrollmentSignInFailed(f"Salesforce refused the sign-in: {error[:60]!r}")
        if code is None or not _CODE.fullmatch(code):
            raise EnrollmentSignInFailed("the callback carries no authorization code")
        assert browser_value is not None  # _record checked it
        import httpx  # here: only a serving process that enrolls needs the client

        async with httpx.AsyncClient(
            transport=self._transport, trust_env=False, timeout=TIMEOUT, follow_redirects=False
        ) as client:
            token, instance_url, identity_url = await self._exchange(client, record.login_url, code, browser_value)
            try:
                admin = await self._identity(client, identity_url, token)
                if claimed is not None:
                    claimed.org_id = admin.org_id
                await self._check_admin(client, instance_url, token, admin)
            finally:
                # The identity and the admin check were all the token was for: drop it, allowed or not.
                await self._revoke(client, record.login_url, token)
        now = self._clock.now()
        if not await self._store.complete_sign_in(
            record.id_hash, record.state_hash, org_id=admin.org_id, user_id=admin.user_id, username=admin.username,
            now=now, expires_at=now + SIGNED_IN_SECONDS,
        ):  # fmt: skip
            raise EnrollmentSignInFailed("the state was used already")
        return admin

    async def signed_in(self, browser_value: str | None, *, form: str | None = None) -> SignedInAdmin:
        """The admin this browser signed in as; with ``form``, the upload form's token must match."""
        record = await self._record(browser_value)
        if browser_value is None or record.org_id is None or record.user_id is None or record.username is None:
            raise EnrollmentSignInFailed("not signed in: start at /enroll")
        if form is not None and not hmac.compare_digest(form.encode(), form_token(browser_value).encode()):
            raise EnrollmentSignInFailed("the form does not belong to this sign-in")
        return SignedInAdmin(record.org_id, record.user_id, record.username)

    async def end(self, browser_value: str | None) -> None:
        if browser_value is not None and _BROWSER_VALUE.fullmatch(browser_value):
            await self._store.end_sign_in(_digest(browser_value))

    async def _record(self, browser_value: str | None) -> SignIn:
        if browser_value is None or not _BROWSER_VALUE.fullmatch(browser_value):
            raise EnrollmentSignInFailed("no sign-in in this browser (the cookie is missing): start at /enroll")
        record = await self._store.get_sign_in(_digest(browser_value), now=self._clock.now())
        if record is None:
            raise EnrollmentSignInFailed("the sign-in is unknown or expired: start again at /enroll")
        return record

    # --- Salesforce -----------------------------------------------------------------------------------

    async def _exchange(
        self, client: httpx.AsyncClient, login_url: str, code: str, browser_value: str
    ) -> tuple[str, str, str]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self._settings.enrollment_client_id or "",
            "client_secret": self._settings.enrollment_client_secret or "",
            "redirect_uri": self.redirect_uri,
            "code_verifier": pkce_verifier(browser_value),
        }
        response = await _call(client, "POST", f"{login_url}/services/oauth2/token", data=form)
        document = _json(response, "the token endpoint")
        if response.status_code in (400, 401):
            error = document.get("error") if isinstance(document, dict) else None
            described = document.get("error_description") if isinstance(document, dict) else None
            raise EnrollmentSignInFailed(f"Salesforce refused the code: {str(error)[:40]} ({str(described)[:80]})")
        if response.status_code != 200 or not isinstance(document, dict):
            raise SalesforceUnavailable(f"the token endpoint at {login_url} answered HTTP {response.status_code}")
        token, instance_url, identity_url = (document.get(k) for k in ("access_token", "instance_url", "id"))
        if not all(isinstance(v, str) and v for v in (token, instance_url, identity_url)):
            raise SalesforceUnavailable("the token response lacks access_token, instance_url or id")
        return str(token), self._salesforce_url(str(instance_url), "instance_url"), str(identity_url)

    async def _identity(self, client: httpx.AsyncClient, identity_url: str, token: str) -> SignedInAdmin:
        checked = self._salesforce_url(identity_url, "the identity URL")
        path = _IDENTITY_PATH.fullmatch(urlsplit(checked).path)
        if path is None:
            raise SalesforceUnavailable("the identity URL is not /id/<org>/<user>")
        response = await _call(client, "GET", checked, headers={"Authorization": f"Bearer {token}"})
        document = _json(response, "the identity URL")
        if response.status_code != 200 or not isinstance(document, dict):
            raise EnrollmentSignInFailed(f"the identity URL refused the new session (HTTP {response.status_code})")
        org_id, user_id, username = (document.get(k) for k in ("organization_id", "user_id", "username"))
        try:
            if not (isinstance(org_id, str) and isinstance(user_id, str) and isinstance(username, str) and username):
                raise InvalidSalesforceId("missing")
            org = ids.validate(org_id, prefix=ids.ORG_PREFIX)
            user = ids.validate(user_id, prefix=ids.USER_PREFIX)
        except InvalidSalesforceId:
            raise SalesforceUnavailable("the identity lacks organization_id, user_id or username") from None
        if not (ids.same_id(path.group(1), org) and ids.same_id(path.group(2), user)):
            raise EnrollmentSignInFailed("the identity names another org or user than its URL")
        return SignedInAdmin(org, user, username[:255])

    async def _check_admin(
        self, client: httpx.AsyncClient, instance_url: str, token: str, admin: SignedInAdmin
    ) -> None:
        url = instance_url + admin_query_path(admin.user_id)
        response = await _call(client, "GET", url, headers={"Authorization": f"Bearer {token}"})
        judge_admin_answer(response, admin)

    async def _revoke(self, client: httpx.AsyncClient, login_url: str, token: str) -> None:
        """Salesforce's token revocation (``POST {login}/services/oauth2/revoke``, form ``token``;
        200 when revoked, 400 ``invalid_token`` / ``unsupported_token_type`` otherwise: "Revoke OAuth
        Tokens Programmatically", Salesforce Help), at the login host that issued the token. Best
        effort, at most :data:`REVOKE_TIMEOUT`: the enrollment never depends on it, and a failure is
        logged without the token (which then lives until Salesforce's session timeout)."""
        import httpx

        host = urlsplit(login_url).netloc
        try:
            response = await client.post(
                f"{login_url}/services/oauth2/revoke", data={"token": token}, timeout=REVOKE_TIMEOUT
            )
        except httpx.HTTPError as exc:
            log.warning(_NOT_REVOKED + "%s did not answer (%s)", host, type(exc).__name__)
            return
        if response.status_code != 200:
            document = _json(response, "the revocation endpoint") if len(response.content) <= _MAX_BODY else None
            error = document.get("error") if isinstance(document, dict) else None
            log.warning(_NOT_REVOKED + "%s answered HTTP %s (%s)", host, response.status_code, str(error)[:40])

    def _salesforce_url(self, url: str, what: str) -> str:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.username or parts.password or not is_salesforce_page(origin, self._domains):
            raise SalesforceUnavailable(f"{what} {url[:120]!r} is not on a Salesforce domain")
        return url.rstrip("/")


def admin_query_path(user_id: str) -> str:
    """The REST resource of the admin check for ``user_id`` (a validated id: nothing to escape)."""
    return f"/services/data/{API_VERSION}/query?q={quote(ADMIN_QUERY.format(user_id=user_id))}"


def judge_admin_answer(response: httpx.Response, admin: SignedInAdmin) -> None:
    """The verdict of the admin check's answer: a row is an administrator; an error or no row is
    :class:`NotOrgAdministrator`; a 5xx or an oversized body :class:`SalesforceUnavailable`."""
    document = _json(response, "the query API")
    if response.status_code >= 500:
        raise SalesforceUnavailable(f"the query API answered HTTP {response.status_code}")
    if response.status_code != 200 or not isinstance(document, dict):
        code = document[0].get("errorCode") if isinstance(document, list) and document else None
        raise NotOrgAdministrator(
            f"user {admin.user_id} of org {admin.org_id} may not read permission assignments "
            f"(HTTP {response.status_code}, {str(code)[:40]}): not an administrator"
        )
    total = document.get("totalSize")
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise NotOrgAdministrator(
            f"user {admin.user_id} of org {admin.org_id} holds neither Customize Application nor Modify All Data"
        )


async def _call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    import httpx

    try:
        return await client.request(
            method, url, headers={"Accept": "application/json", **kwargs.pop("headers", {})}, **kwargs
        )
    except httpx.HTTPError as exc:
        raise SalesforceUnavailable(f"{urlsplit(url).netloc} did not answer: {type(exc).__name__}") from None


def _json(response: httpx.Response, what: str) -> Any:
    if len(response.content) > _MAX_BODY:
        raise SalesforceUnavailable(f"{what} answered more than {_MAX_BODY} bytes")
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None
