"""The optional Canvas liveness check: is the envelope's session still a live Salesforce session?

A signed request proves that Salesforce signed it at some point; Salesforce re-sends the same one on
every reload, so a captured request stays valid for as long as the consumer secret does. With
``canvas_liveness_check`` on, the service asks the org's userinfo endpoint
(``{client.instanceUrl}/services/oauth2/userinfo``, Bearer ``client.oauthToken``) and accepts the
request only when Salesforce answers 200 for the same organization and user as the envelope.

Salesforce's identity service refuses a dead token with HTTP 403 ``Bad_OAuth_Token`` (401 from some
instances): that is :class:`~forcegate.errors.CanvasSessionNotLive`. No answer, a 5xx or an
unreadable body is :class:`~forcegate.errors.SalesforceUnavailable` (503): the check fails closed.
The token never appears in a message or a log.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from forcegate.core import ids
from forcegate.core.canvas_request import CanvasRequest
from forcegate.core.claim_profile import is_loopback_host
from forcegate.errors import CanvasSessionNotLive, SalesforceUnavailable

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_TIMEOUT", "CanvasLivenessCheck"]

DEFAULT_TIMEOUT = 5.0
USERINFO_PATH = "/services/oauth2/userinfo"
_MAX_BODY = 64 * 1024


def _userinfo_url(instance_url: str | None) -> str:
    if not instance_url:
        raise CanvasSessionNotLive("the envelope has no client.instanceUrl to check the session at")
    parts = urlsplit(instance_url)
    host = parts.hostname or ""
    # https only: the token must not cross the network in clear. Loopback http is the local emulator.
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        raise CanvasSessionNotLive("client.instanceUrl is not a plain URL")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        raise CanvasSessionNotLive("client.instanceUrl is not https://")
    return instance_url.rstrip("/") + USERINFO_PATH


class CanvasLivenessCheck:
    """Calls userinfo for a verified :class:`CanvasRequest`; raises unless the session is live and matches.

    ``transport`` replaces the network in tests. Each check opens its own client (Canvas logins are
    rare next to API calls, and a per-check client needs no shutdown hook).
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = timeout
        self._transport = transport

    async def check(self, request: CanvasRequest) -> None:
        client_info = request.client
        url = _userinfo_url(client_info.instance_url)
        token = client_info.oauth_token
        if not token:
            raise CanvasSessionNotLive("the envelope has no client.oauthToken")
        # Imported here: httpx pulls in click (its CLI), which the server must not load unless used.
        import httpx

        try:
            async with httpx.AsyncClient(
                transport=self._transport, trust_env=False, timeout=self.timeout, follow_redirects=False
            ) as client:
                response = await client.get(
                    url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
                )
        except httpx.HTTPError as exc:
            raise SalesforceUnavailable(f"userinfo at {url} did not answer: {type(exc).__name__}") from None
        status = response.status_code
        if status in (401, 403):
            raise CanvasSessionNotLive(f"Salesforce's userinfo refused the envelope's session (HTTP {status})")
        if status != 200:
            raise SalesforceUnavailable(f"userinfo at {url} answered HTTP {status}")
        document = None
        if len(response.content) <= _MAX_BODY:
            try:
                document = json.loads(response.content)
            except ValueError:
                document = None
        if not isinstance(document, dict):
            raise SalesforceUnavailable(f"userinfo at {url} answered HTTP 200 without a JSON object")
        org_id, user_id = document.get("organization_id"), document.get("user_id")
        if not (isinstance(org_id, str) and ids.same_id(org_id, request.organization_id)):
            raise CanvasSessionNotLive("the session belongs to another organization than the envelope's")
        if not (isinstance(user_id, str) and ids.same_id(user_id, request.user_id)):
            raise CanvasSessionNotLive("the session belongs to another user than the envelope's")
