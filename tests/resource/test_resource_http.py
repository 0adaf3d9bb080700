"""The verifier's HTTP calls, mocked with respx: every failure is an outage (503) or, for a refused
credential, a configuration fault (500); nothing unbounded is read."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from forcegate.errors import ConfigurationError, StoreUnavailable
from forcegate.resource._http import new_client, read_json

URL = "https://auth.example.com/.well-known/jwks.json"
INTROSPECT = "https://auth.example.com/oauth2/introspect"


def read(url: str = URL, **kwargs: Any) -> Any:
    async def go() -> Any:
        async with new_client(2) as client:
            return await read_json(client, url, what="the JWKS", max_bytes=1024, timeout=2, **kwargs)

    return asyncio.run(go())


@respx.mock
def test_a_json_answer_is_read() -> None:
    route = respx.get(URL).respond(200, json={"keys": []})
    assert read() == {"keys": []}
    request = route.calls.last.request
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("forcegate-resource/")


@respx.mock
def test_introspection_posts_the_token_with_the_bearer_credential() -> None:
    route = respx.post(INTROSPECT).respond(200, json={"active": True})
    assert read(INTROSPECT, form={"token": "t.o.k"}, bearer="admin-token") == {"active": True}
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer admin-token"
    assert request.content == b"token=t.o.k"


@respx.mock
@pytest.mark.parametrize(
    ("response", "why"),
    [
        (httpx.Response(500), "answered 500"),
        (httpx.Response(302, headers={"location": "https://evil.example.com/"}), "answered 302"),
        (httpx.Response(200, content=b"<html>"), "not JSON"),
        (httpx.Response(200, content=b"x" * 2048), "over the 1024-byte limit"),
        (httpx.Response(200, content=b"[]", headers={"content-length": "4096"}), "4096 bytes"),
    ],
)
def test_an_unusable_answer_is_an_outage(response: httpx.Response, why: str) -> None:
    respx.get(URL).mock(return_value=response)
    with pytest.raises(StoreUnavailable, match=why):
        read()


@respx.mock
def test_a_network_failure_is_an_outage_named_by_its_kind() -> None:
    respx.get(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(StoreUnavailable, match="ConnectError"):
        read()


@respx.mock
@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_credential_is_a_configuration_fault(status: int) -> None:
    respx.post(INTROSPECT).respond(status)
    with pytest.raises(ConfigurationError, match="credential"):
        read(INTROSPECT, form={"token": "x"}, bearer="wrong")
