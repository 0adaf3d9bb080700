"""The ASGI dispatch in front of the framework: hot paths, mounting under a prefix, failure modes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from forcegate.clock import FixedClock
from forcegate.server import app as app_module
from forcegate.server import create_app
from forcegate.server._asgi import Receive, Scope, Send
from forcegate.settings import Settings
from server.live import LiveServer, Org, exchange


def test_a_bug_in_a_hot_endpoint_is_a_json_500(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setitem(app_module._HOT, "/api/v1/me", broken)
    with live_server.client() as client:
        response = client.get("/api/v1/me")
    assert response.status_code == 500
    assert response.json() == {"error": "server_error"}


def test_unknown_paths_are_404(live_server: LiveServer) -> None:
    with live_server.client() as client:
        assert client.get("/nowhere").status_code == 404
        assert client.post("/oauth2/token/extra").status_code == 404


def test_without_the_lifespan_the_app_refuses(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), clock=FixedClock(0))

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            return await client.get("/healthz")

    response = asyncio.run(call())
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_hot_paths_work_when_mounted_under_a_prefix(live_server: LiveServer, registered: Org) -> None:
    """Under a parent app's Mount (or a server's root path) ``path`` keeps the prefix: the dispatch strips it."""
    parent = Starlette(routes=[Mount("/fg", app=live_server.app)])
    token = exchange(live_server, registered.assertion(live_server.token_endpoint)).json()["access_token"]

    async def calls() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=parent)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return (
                await client.get("/fg/api/v1/me", headers={"authorization": f"Bearer {token}"}),
                await client.get("/fg/api/v1/me"),
                await client.get("/fg/healthz"),
            )

    me, anonymous, health = asyncio.run(calls())
    assert me.status_code == 200
    assert me.json()["org_id"] == registered.org_id
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="forcegate"'
    assert health.json() == {"status": "ok"}
