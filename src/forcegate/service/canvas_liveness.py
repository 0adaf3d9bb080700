"""The optional Canvas liveness check: is the envelope's session still a live Salesforce session?

A signed request proves that Salesforce signed it at some point; Salesforce re-sends the same one on
every reload, so a captured request stays valid for as long as the consumer secret does. With
``canvas_liveness_check`` on, the service asks the org's userinfo endpoint (Bearer
``client.oauthToken``) and accepts the request only when Salesforce answers 200 for the same
organization and user as the envelope.

Where it asks is decided by :mod:`forcegate.core.instance_url`, never by the envelope alone: only
``https://HOST/services/oauth2/userinfo`` on Salesforce's domains (or a configured suffix), or
exactly a configured origin (an emulator). HOST is resolved here (the resolver is injectable); if any
of its addresses is not public the request is refused, else the call goes to a checked address with
``Host`` and the TLS server name (SNI and certificate check) set to HOST — httpx's ``sni_hostname``
request extension — so a DNS answer that changes between the check and the connection cannot send
the token elsewhere. Every refusal of the URL or the token happens before any connection is opened.

Salesforce's identity service refuses a dead token with HTTP 403 ``Bad_OAuth_Token`` (401 from some
instances): that is :class:`~forcegate.errors.CanvasSessionNotLive`, like every refused instance URL.
No answer, a 5xx or an unreadable body is :class:`~forcegate.errors.SalesforceUnavailable` (503):
the check fails closed. The token never appears in a message or a log.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from forcegate.core import ids
from forcegate.core.canvas_request import CanvasRequest
from forcegate.core.instance_url import (
    HTTPS_PORT,
    UserinfoTarget,
    is_public_address,
    parse_instance_domains,
    userinfo_target,
)
from forcegate.errors import CanvasSessionNotLive, SalesforceUnavailable

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_TIMEOUT", "CanvasLivenessCheck", "Resolver", "system_resolver"]

DEFAULT_TIMEOUT = 5.0
_MAX_BODY = 64 * 1024
_MAX_TOKEN = 4096
# Addresses tried in the resolver's order when a connection fails (an unreachable IPv6 first, say).
_MAX_ATTEMPTS = 4
_NO_SUCH_NAME = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code is not None
)

#: ``(host, port) -> addresses``: how a name becomes the IP addresses that are checked and connected to.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's resolver (``getaddrinfo``) through the running loop: TCP addresses, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _bearer(token: str | None) -> str:
    if not token:
        raise CanvasSessionNotLive("the envelope has no client.oauthToken")
    # Printable ASCII without spaces: an HTTP header can carry it and cannot be split by it. Salesforce
    # session ids ("00D…!AQ…") fit; RFC 6750's b64token is narrower and would refuse the "!".
    if len(token) > _MAX_TOKEN or not all("!" <= c <= "~" for c in token):
        raise CanvasSessionNotLive("client.oauthToken is not a bearer token (non-ASCII, spaces or too long)")
    return token


class CanvasLivenessCheck:
    """Calls userinfo for a verified :class:`CanvasRequest`; raises unless the session is live and matches.

    ``transport`` replaces the network in tests, ``resolver`` the DNS. Each check opens its own client
    (Canvas logins are rare next to API calls, and a per-check client needs no shutdown hook).
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.timeout = timeout
        self._transport = transport
        self._resolver: Resolver = resolver or system_resolver

    async def check(self, request: CanvasRequest, *, instance_domains: Sequence[str] = ()) -> None:
        """``instance_domains``: the ``canvas_instance_domains`` setting (suffixes and exact origins)."""
        client_info = request.client
        target = userinfo_target(client_info.instance_url, parse_instance_domains(tuple(instance_domains)))
        response = await self.get(target, _bearer(client_info.oauth_token))
        _confirm(response, request, target)

    async def get(self, target: UserinfoTarget, token: str) -> httpx.Response:
        """GET ``target`` (checked by :func:`userinfo_target`, maybe moved to another resource of
        the same instance with :meth:`UserinfoTarget.at_path`) with ``token`` as bearer, the guarded
        way: a pinned target's host is resolved, refused unless every address is public, and called
        at a checked address. The answer is the caller's to judge."""
        addresses = await self._public_addresses(target.host) if target.pinned else ()
        return await self._ask(target, addresses, _bearer(token))

    async def _public_addresses(self, host: str) -> Sequence[str]:
        try:
            async with asyncio.timeout(self.timeout):
                addresses = list(await self._resolver(host, HTTPS_PORT))
        except socket.gaierror as exc:
            if exc.errno in _NO_SUCH_NAME:
                raise CanvasSessionNotLive(f"client.instanceUrl's host {host} does not resolve") from None
            raise SalesforceUnavailable(f"cannot resolve {host}: {exc.strerror}") from None
        except (TimeoutError, OSError) as exc:
            raise SalesforceUnavailable(f"cannot resolve {host}: {type(exc).__name__}") from None
        if not addresses:
            raise CanvasSessionNotLive(f"client.instanceUrl's host {host} does not resolve")
        refused = [address for address in addresses if not is_public_address(address)]
        if refused:
            # ANY private answer refuses: a name that mixes public and internal addresses is a probe.
            raise CanvasSessionNotLive(
                f"client.instanceUrl's host {host} resolves to a non-public address {refused[0]}"
            )
        return addresses

    async def _ask(self, target: UserinfoTarget, addresses: Sequence[str], token: str) -> httpx.Response:
        # Imported here: httpx pulls in click (its CLI), which the server must not load unless used.
        import httpx

        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        async with httpx.AsyncClient(
            transport=self._transport, trust_env=False, timeout=self.timeout, follow_redirects=False
        ) as client:
            if not target.pinned:  # a configured origin: called as it is, by name
                try:
                    return await client.get(target.url, headers=headers)
                except httpx.HTTPError as exc:
                    raise SalesforceUnavailable(f"{target.url} did not answer: {type(exc).__name__}") from None
            failure = "no address"
            for address in addresses[:_MAX_ATTEMPTS]:
                try:
                    return await client.get(
                        target.url_at(address),
                        headers={**headers, "Host": target.host},
                        extensions={"sni_hostname": target.host},
                    )
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    failure = type(exc).__name__  # TLS failures are ConnectError too: try the next address
                except httpx.HTTPError as exc:
                    failure = type(exc).__name__
                    break
        tried = ", ".join(addresses[:_MAX_ATTEMPTS])
        raise SalesforceUnavailable(f"{target.url} ({tried}) did not answer: {failure}")


def _confirm(response: httpx.Response, request: CanvasRequest, target: UserinfoTarget) -> None:
    status = response.status_code
    if status in (401, 403):
        raise CanvasSessionNotLive(f"Salesforce's userinfo refused the envelope's session (HTTP {status})")
    if status != 200:
        raise SalesforceUnavailable(f"userinfo at {target.url} answered HTTP {status}")
    document = None
    if len(response.content) <= _MAX_BODY:
        try:
            document = json.loads(response.content)
        except ValueError:
            document = None
    if not isinstance(document, dict):
        raise SalesforceUnavailable(f"userinfo at {target.url} answered HTTP 200 without a JSON object")
    org_id, user_id = document.get("organization_id"), document.get("user_id")
    if not (isinstance(org_id, str) and ids.same_id(org_id, request.organization_id)):
        raise CanvasSessionNotLive("the session belongs to another organization than the envelope's")
    if not (isinstance(user_id, str) and ids.same_id(user_id, request.user_id)):
        raise CanvasSessionNotLive("the session belongs to another user than the envelope's")
