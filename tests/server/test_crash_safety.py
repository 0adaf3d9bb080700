"""A worker killed with SIGKILL under load loses no committed registry or audit data.

``forcegate serve --workers 2`` takes registry writes (admin API) and token exchanges from several
clients; one worker is killed mid-load. Whatever the service acknowledged before or after the kill
— every org it answered 201 for, every access token it handed out, with its audit row — is in the
database afterwards, and the service keeps answering. Once on the embedded default (SQLite, whose
file must also pass ``PRAGMA integrity_check``), once on PostgreSQL + Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.core.ids import to18
from forcegate.settings import Settings
from forcegate.stores import open_stores
from private_servers import free_port
from server.backends import Backend, shared_backend
from server.live import JWT_BEARER_GRANT, ORG_ID, Org, jti_of, make_org, register_org
from server.serve_process import ServeProcess

LOAD_SECONDS = 1.5


@dataclass
class Acknowledged:
    orgs: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # transport errors while the worker died
    lock: threading.Lock = field(default_factory=threading.Lock)


def _add_orgs(url: str, admin_token: str, start: int, stop: threading.Event, seen: Acknowledged) -> None:
    n = start
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as admin:
        while not stop.is_set():
            org_id = to18(f"00D7g{n:010d}")
            n += 1
            try:
                response = admin.post("/admin/api/v1/orgs", json={"org_id": org_id, "name": f"org {n}"})
            except httpx.TransportError as exc:
                with seen.lock:
                    seen.failures.append(type(exc).__name__)
                continue
            if response.status_code == 201:
                with seen.lock:
                    seen.orgs.append(org_id)


def _exchange(url: str, audience: str, org: Org, stop: threading.Event, seen: Acknowledged) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            try:
                response = client.post(
                    "/oauth2/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": org.assertion(audience)}
                )
            except httpx.TransportError as exc:
                with seen.lock:
                    seen.failures.append(type(exc).__name__)
                continue
            if response.status_code == 200:
                with seen.lock:
                    seen.tokens.append(response.json()["access_token"])


@contextlib.contextmanager
def _clients(server: ServeProcess, admin_token: str, org: Org, audience: str) -> Iterator[Acknowledged]:
    seen, stop = Acknowledged(), threading.Event()
    threads = [
        threading.Thread(target=_add_orgs, args=(server.url, admin_token, 0, stop, seen)),
        threading.Thread(target=_add_orgs, args=(server.url, admin_token, 5_000_000, stop, seen)),
        threading.Thread(target=_exchange, args=(server.url, audience, org, stop, seen)),
        threading.Thread(target=_exchange, args=(server.url, audience, org, stop, seen)),
    ]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def _kill_a_worker_under_load(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, backend: Backend | None) -> Settings:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    data = tmp_path / "data"
    server = ServeProcess(backend, data, port=port, public_url=public, workers=2)
    try:
        admin_token = server.admin_token()
        org = make_org(ORG_ID, rsa_key, FixedClock(time.time()))
        register_org(server.url, admin_token, org)
        with _clients(server, admin_token, org, public + "/oauth2/token") as seen:
            time.sleep(LOAD_SECONDS)
            before = (len(seen.orgs), len(seen.tokens))
            victim = server.workers()[0]
            os.kill(victim, signal.SIGKILL)
            time.sleep(LOAD_SECONDS)
            after = (len(seen.orgs), len(seen.tokens))
        # Load ran before the kill, and the service kept answering after it.
        assert min(before) > 0, before
        assert after[0] > before[0], (before, after)
        assert after[1] > before[1], (before, after)
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
    finally:
        server.stop()
    settings = Settings(data_dir=data, **(backend.settings() if backend is not None else {}))

    async def check() -> None:
        stores = await open_stores(settings, migrate="check")
        try:
            for org_id in seen.orgs:
                assert await stores.trust.get_org(org_id) is not None, org_id
            for token in seen.tokens:
                assert await stores.tokens.get_issued(jti_of(token)) is not None
            allowed = 0
            before_id: int | None = None
            while page := await stores.audit.query(limit=1000, before_id=before_id):
                allowed += sum(1 for e in page if e.endpoint == "/oauth2/token" and e.result == "allowed")
                before_id = page[-1].id
            # A grant committed by the killed worker may have lost only its answer: at least as many.
            assert allowed >= len(seen.tokens)
        finally:
            await stores.close()

    asyncio.run(check())
    return settings


def test_sigkill_of_a_worker_on_the_embedded_default(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    settings = _kill_a_worker_under_load(tmp_path, rsa_key, None)
    conn = sqlite3.connect(settings.effective_database_url.removeprefix("sqlite:///"))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_sigkill_of_a_worker_on_postgresql_and_redis(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    with shared_backend() as backend:
        _kill_a_worker_under_load(tmp_path, rsa_key, backend)
