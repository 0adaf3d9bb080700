"""Helpers of the console tests: the application under httpx (ASGI transport, lifespan run) over
HTTPS, signing in, reading a form's CSRF token, adding an operator."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from forcegate.clock import FixedClock
from forcegate.server.app import ForcegateApp, create_app
from forcegate.service.bootstrap import bootstrap
from forcegate.service.console_sign_in import ConsoleSignIn
from forcegate.settings import Settings

__all__ = ["PASSWORD", "URL", "Console", "console_app", "csrf_of", "run", "sign_in"]

PASSWORD = "correct horse battery staple"
URL = "https://console.test"
_CSRF = re.compile(r'name="csrf" value="([0-9A-Za-z_-]+)"')
T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


@dataclass
class Console:
    client: httpx.AsyncClient
    app: ForcegateApp
    settings: Settings
    clock: FixedClock
    admin_token: str

    def new_client(self) -> httpx.AsyncClient:
        """Another browser: its own cookies."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=URL, follow_redirects=False)

    async def add_operator(self, name: str = "alice", password: str = PASSWORD) -> None:
        """``forcegate admin create-user``'s effect, on the service's stores."""
        assert self.app.service is not None
        await ConsoleSignIn(self.app.service.stores, clock=self.clock).create_operator(name, password)

    def admin_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.admin_token}"}


@asynccontextmanager
async def console_app(data_dir: Path, clock: FixedClock, **overrides: Any) -> AsyncIterator[Console]:
    """The service for ``data_dir`` (bootstrapped), started, and a client at https://console.test."""
    settings = Settings(**{"public_url": URL, "data_dir": data_dir, **overrides})
    result = await bootstrap(settings, clock=clock)
    app = create_app(settings, clock=clock)
    await app.startup()
    try:
        console = Console(httpx.AsyncClient(), app, settings, clock, result.admin_token or "")
        async with console.new_client() as client:
            console.client = client
            yield console
    finally:
        await app.shutdown()


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, name: str = "alice", password: str = PASSWORD) -> httpx.Response:
    """Sign ``client`` in (the sign-in page's CSRF binding included); the answer to the form's post."""
    page = await client.get("/console/sign-in")
    assert page.status_code == 200, page.text
    return await client.post(
        "/console/sign-in", data={"csrf": csrf_of(page.text), "method": "password", "name": name, "password": password}
    )
