"""The resource verifier's calls to the service: its JWKS and its introspection endpoint, bounded.

Imported only when a :class:`~forcegate.resource.JWKSVerifier` is built (httpx is the ``resource``
extra). Each answer is read with a deadline (``timeout`` for connecting, each read, and the whole
exchange) and a size limit (streamed, abandoned past ``max_bytes`` before it is parsed); redirects are
not followed (a JWKS URL that moved is a configuration to fix, not a hop to take).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from forcegate import __version__
from forcegate.errors import ConfigurationError, StoreUnavailable

__all__ = ["new_client", "read_json"]


def new_client(timeout: float) -> httpx.AsyncClient:
    """The client of one verifier (on its own loop: see :mod:`forcegate.resource._loop`)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=8, max_keepalive_connections=2),
        headers={"user-agent": f"forcegate-resource/{__version__}", "accept": "application/json"},
    )


async def read_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    max_bytes: int,
    timeout: float,
    form: Mapping[str, str] | None = None,
    bearer: str | None = None,
) -> Any:
    """GET ``url`` (POST ``form`` when given) and parse its 200 answer as JSON.

    Anything else is :class:`StoreUnavailable` (503: the service is down or answers nonsense), except
    a 401/403, which means the credential this verifier was configured with is wrong:
    :class:`ConfigurationError` (500).
    """
    headers = {"authorization": f"Bearer {bearer}"} if bearer is not None else {}
    try:
        async with asyncio.timeout(timeout):
            request = client.build_request("POST" if form is not None else "GET", url, data=form, headers=headers)
            response = await client.send(request, stream=True)
            try:
                if response.status_code in (401, 403):
                    raise ConfigurationError(
                        f"{what} at {url} refused this verifier's credential ({response.status_code})"
                    )
                if response.status_code != 200:
                    raise StoreUnavailable(f"{what} at {url} answered {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise StoreUnavailable(f"{what} at {url} is {declared} bytes, over the {max_bytes}-byte limit")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise StoreUnavailable(f"{what} at {url} is over the {max_bytes}-byte limit")
            finally:
                await response.aclose()
    except TimeoutError:
        raise StoreUnavailable(f"{what} at {url}: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise StoreUnavailable(f"{what} at {url}: {type(exc).__name__}") from None
    try:
        return orjson.loads(bytes(body))
    except orjson.JSONDecodeError:
        raise StoreUnavailable(f"{what} at {url} is not JSON") from None
