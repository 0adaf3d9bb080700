"""Enrollment from inside a Canvas app: the verified signed request stands in for the Salesforce sign-in.

Decision 0022. ``POST /enroll/canvas`` (or ``/enroll/canvas/{consumer_key}``) is a Canvas app URL:
Salesforce's page POSTs ``signed_request`` into the app's iframe. The steps of
:meth:`CanvasEnrollment.sign_in`, in this order:

1. the browser's ``Origin``, when sent, names a Salesforce page (:func:`check_origin`, as ``/canvas``);
2. the signed request verifies and its app may speak for its org
   (:func:`~forcegate.service.canvas.verify_canvas_request`: the routing, the secrets, the org/app
   binding of decision 0013 — the very checks of ``/canvas``);
3. the envelope's session is live and is the envelope's user in the envelope's org: Salesforce's
   userinfo, asked with ``client.oauthToken`` at ``client.instanceUrl`` through the liveness check's
   guarded client (Salesforce's domains only, checked addresses). Needed even with the signature:
   the consumer secret vouches for what it signed, while the org and the user are only believed when
   the session's own identity says so (a holder of the secret could otherwise name another org);
4. the admin check of the web flow (:data:`~forcegate.service.enrollment_sign_in.ADMIN_QUERY`), with
   the same token, on the same checked instance;
5. a sign-in is recorded (org, user, username: the verified envelope's) under the SHA-256 of a new
   random **upload token**, which the upload page's form carries in place of a cookie (the page
   lives in Salesforce's iframe, where third-party cookies are not sent). The token lives
   :data:`UPLOAD_SECONDS` and is single use: :meth:`CanvasEnrollment.take` claims it once, atomically,
   in the replay store before the registry's :meth:`~forcegate.registry.enrollment.Enrollments.start`.

The envelope's token is not revoked afterwards, unlike the web flow's: it is the user's Canvas
session, which the app and Salesforce's page go on using; forcegate neither obtained nor owns it.
Every decision is audited; refusals through the service's writer (bounded per client, decision 0013).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from forcegate.core.form import required
from forcegate.core.instance_url import parse_instance_domains, userinfo_target
from forcegate.errors import EnrollmentSignInFailed, ForcegateError, MalformedSignedRequest
from forcegate.service.authentication import AuthenticationService, Form
from forcegate.service.canvas import check_origin, verify_canvas_request
from forcegate.service.canvas_liveness import CanvasLivenessCheck
from forcegate.service.claimed import claimed_canvas_org
from forcegate.service.enrollment_sign_in import SignedInAdmin, admin_query_path, judge_admin_answer
from forcegate.service.failure_bound import Claimed
from forcegate.stores.models import AuditEvent, SignIn

__all__ = ["CANVAS_ENTRY", "UPLOAD_PATH", "UPLOAD_SECONDS", "CanvasEnrollment"]

CANVAS_ENTRY = "/enroll/canvas"
UPLOAD_PATH = "/enroll/canvas/certificate"
#: From the Canvas page to the certificate's upload: an admin pastes one PEM.
UPLOAD_SECONDS = 600
_PREFIX = "cvs_"
# "cvs_" and 256 random bits: never the shape of the web flow's browser value (43 characters), so
# neither can be presented as the other, and their digests never meet.
_UPLOAD_TOKEN = re.compile(r"cvs_[A-Za-z0-9_-]{43}")
_CREDENTIAL = "canvas"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def _new_token() -> str:
    return _PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")


class CanvasEnrollment:
    """The Canvas stand-in for the sign-in (module docstring), over the service's stores."""

    def __init__(self, service: AuthenticationService, *, checker: CanvasLivenessCheck | None = None) -> None:
        self._service = service
        self._store = service.stores.enrollments
        # The liveness check's guarded client, configured or not: the enrollment always asks.
        self._checker = checker or service.canvas_liveness or CanvasLivenessCheck()

    async def sign_in(
        self,
        form: Form,
        *,
        consumer_key: str | None,
        client: str | None,
        origin: str | None,
        claimed: Claimed | None = None,
    ) -> tuple[SignedInAdmin, str]:
        """Steps 1 to 5: the admin, and the upload token for the page's form (shown once, stored hashed)."""
        service = self._service
        signed_request: str | None = None
        try:
            if not service.settings.enrollment_canvas:
                raise EnrollmentSignInFailed("enrollment from a Canvas app is not enabled here (enrollment_canvas)")
            if origin is not None:
                check_origin(origin, service.settings.canvas_instance_domains)
            signed_request = required(dict(await form()), "signed_request")
            if claimed is not None:
                claimed.org_id = claimed_canvas_org(signed_request)
            verified = await verify_canvas_request(service, signed_request, consumer_key=consumer_key)
            request = verified.request
            username = request.user.user_name
            if not username:
                raise MalformedSignedRequest("the envelope names no context.user.userName")
            admin = SignedInAdmin(request.organization_id, request.user_id, username[:255])
            domains = service.settings.canvas_instance_domains
            await self._checker.check(request, instance_domains=domains)  # the session is this user's, live
            target = userinfo_target(request.client.instance_url, parse_instance_domains(domains))
            token = request.client.oauth_token or ""
            judge_admin_answer(await self._checker.get(target.at_path(admin_query_path(admin.user_id)), token), admin)
        except ForcegateError as exc:
            event = service.audit.event(
                endpoint=CANVAS_ENTRY,
                credential=_CREDENTIAL,
                error=exc,
                client=client,
                org_id=claimed_canvas_org(signed_request),
            )
            await service.write_refusal(event)
            raise
        upload_token = _new_token()
        now = service.clock.now()
        record = SignIn(
            id_hash=_digest(upload_token),
            state_hash=_digest(_new_token()),  # no OAuth state here: a random one nobody holds
            login_url=f"canvas:{verified.app.consumer_key}"[:255],  # where the sign-in came from: which app
            created_at=now,
            expires_at=now + UPLOAD_SECONDS,
        )
        await self._store.begin_sign_in(record)
        await self._store.complete_sign_in(
            record.id_hash, record.state_hash, org_id=admin.org_id, user_id=admin.user_id, username=admin.username,
            now=now, expires_at=now + UPLOAD_SECONDS,
        )  # fmt: skip
        detail = f"signed in from Canvas app {verified.app.consumer_key} as {admin.user_id} to enroll"
        await service.audit.write(
            AuditEvent(
                at=now,
                endpoint=CANVAS_ENTRY,
                credential=_CREDENTIAL,
                result="allowed",
                code="enrollment_sign_in",
                detail=detail[:500],
                org_id=admin.org_id,
                user_id=admin.user_id,
                subject=admin.username,
                client=client,
            )
        )
        return admin, upload_token

    async def take(
        self, upload_token: str | None, *, client: str | None, claimed: Claimed | None = None
    ) -> SignedInAdmin:
        """The admin an upload token was issued to, consuming it: ONE atomic claim in the replay
        store, so a second use — a replay, or a race — is refused (and audited)."""
        try:
            if upload_token is None or not _UPLOAD_TOKEN.fullmatch(upload_token):
                raise EnrollmentSignInFailed("the form carries no upload token: open the app again from Salesforce")
            digest = _digest(upload_token)
            now = self._service.clock.now()
            record = await self._store.get_sign_in(digest, now=now)
            if record is None or record.org_id is None or record.user_id is None or record.username is None:
                raise EnrollmentSignInFailed(
                    "the upload form is unknown or expired: open the app again from Salesforce"
                )
            if claimed is not None:
                claimed.org_id = record.org_id
            admin = SignedInAdmin(record.org_id, record.user_id, record.username)
            if not await self._service.stores.replay.claim(f"enrollment-upload:{digest}", record.expires_at, now=now):
                raise EnrollmentSignInFailed("this upload form was used already: open the app again from Salesforce")
        except ForcegateError as exc:
            org = claimed.org_id if claimed is not None else None
            event = self._service.audit.event(
                endpoint=UPLOAD_PATH, credential=_CREDENTIAL, error=exc, client=client, org_id=org
            )
            await self._service.write_refusal(event)
            raise
        return admin

    async def end(self, upload_token: str) -> None:
        """Forget the sign-in (its claim keeps the token used until it would have expired anyway)."""
        await self._store.end_sign_in(_digest(upload_token))
