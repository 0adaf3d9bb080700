"""Notifications end to end: real ``forcegate serve`` processes POSTing to a receiver on 127.0.0.1.

The receiver refuses each event's first two attempts (503) and takes the third. Whatever the shape of
the deployment — two workers on the embedded SQLite, or three workers in two processes on one
PostgreSQL (as two hosts would be) — each event reaches it exactly three times, is taken once, carries
a valid signature every time, and nothing is sent after. A receiver that hangs does not slow a token
request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import http.server
import itertools
import json
import secrets
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from prometheus_client.parser import text_string_to_metric_families

from forcegate.clock import FixedClock
from forcegate.devtools import CertificateAndKeyManagement
from forcegate.service.bootstrap import bootstrap
from forcegate.service.notification_events import verify_signature
from forcegate.settings import Settings
from forcegate.stores import Enrollment, Org, open_stores
from forcegate.stores.notification_rows import Notification
from helpers import self_signed
from private_servers import free_port
from server.backends import Backend, shared_backend
from server.live import CERT_NAME, ORG_ID, OTHER_ORG_ID, post_token
from server.live import Org as EmulatedOrg
from server.serve_process import ServeProcess

SECRET = "receiver-secret-" + secrets.token_hex(8)
DAY = 86_400
ENROLLMENT_ID = "enr_" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(20))
DELIVERY_DEADLINE = 60.0


@dataclass
class Delivery:
    event_id: str
    body: bytes
    headers: dict[str, str]
    received_at: float
    status: int


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that answers 503 to each event's first ``failures`` attempts, then 200."""

    failures: int = 2
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def serving(self) -> Iterator[str]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                event_id = json.loads(body)["id"]
                with receiver.lock:
                    earlier = sum(1 for d in receiver.deliveries if d.event_id == event_id)
                    status = 503 if earlier < receiver.failures else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.deliveries.append(Delivery(event_id, body, headers, time.time(), status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hooks/forcegate"
        finally:
            server.shutdown()
            server.server_close()

    def taken(self) -> set[str]:
        with self.lock:
            return {d.event_id for d in self.deliveries if d.status == 200}

    def by_event(self) -> dict[str, list[Delivery]]:
        with self.lock:
            found: dict[str, list[Delivery]] = {}
            for delivery in self.deliveries:
                found.setdefault(delivery.event_id, []).append(delivery)
            return found


def expiring_org(key: rsa.RSAPrivateKey, now: float) -> EmulatedOrg:
    """The org of the live tests, its certificate expiring in five days (the notifier's 7-day threshold)."""
    start = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(days=360)
    certificate = self_signed(key, cn="expiring", start=start, days=365)
    certificates = CertificateAndKeyManagement()
    certificates.add(CERT_NAME, private_key=key, certificate=certificate)
    return EmulatedOrg(ORG_ID, certificates, certificate, FixedClock(now))


def prepare(settings: Settings, org: EmulatedOrg) -> dict[str, str]:
    """A bootstrapped store holding the org with its expiring certificate and an enrollment waiting for
    approval; the ids of the two events they make."""

    async def go() -> str:
        await bootstrap(settings)
        stores = await open_stores(settings)
        try:
            await stores.trust.add_org(Org(org_id=org.org_id, scopes=("api",)))
            record = await stores.trust.add_certificate(org.org_id, org.certificate)
            der = self_signed(ec.generate_private_key(ec.SECP256R1()), cn="enrolled").public_bytes(Encoding.DER)
            now = time.time()
            await stores.enrollments.add_enrollment(
                Enrollment(
                    enrollment_id=ENROLLMENT_ID,
                    org_id=OTHER_ORG_ID,
                    user_id="0055g00000AbCdEAAV",
                    username="admin@other.example",
                    certificate_der=der,
                    sha256_fingerprint=hashlib.sha256(der).hexdigest(),
                    state="pending_approval",
                    code_digest=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                    code_expires_at=now + DAY,
                    created_at=now,
                    updated_at=now,
                )
            )
            return record.sha256_fingerprint
        finally:
            await stores.close()

    fingerprint = asyncio.run(go())
    return {
        "certificate.expiring": f"certificate.expiring:{fingerprint}:{ORG_ID}:7",
        "enrollment.pending_approval": f"enrollment.pending_approval:{ENROLLMENT_ID}",
    }


def outbox(settings: Settings) -> list[Notification]:
    async def go() -> list[Notification]:
        stores = await open_stores(settings)
        try:
            return list(await stores.notifications.list_notifications())
        finally:
            await stores.close()

    return asyncio.run(go())


def notification_counts(url: str) -> dict[tuple[str, str], float]:
    response = httpx.get(url + "/metrics", headers={"connection": "close"}, timeout=10)
    assert response.status_code == 200, response.text
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "forcegate_notifications_total":
                found[(sample.labels["type"], sample.labels["result"])] = sample.value
    return found


@dataclass(frozen=True)
class Deployment:
    name: str
    processes: tuple[int, ...]  # workers of each `forcegate serve`
    postgresql: bool


DEPLOYMENTS = [
    Deployment("sqlite, 2 workers", (2,), postgresql=False),
    Deployment("postgresql, 2 hosts, 3 workers", (1, 2), postgresql=True),
]


@contextmanager
def deployment_settings(shape: Deployment, tmp_path: Path) -> Iterator[tuple[Backend | None, Settings]]:
    if not shape.postgresql:
        yield None, Settings(data_dir=tmp_path / "data")
        return
    with shared_backend() as backend:
        yield backend, Settings(data_dir=tmp_path / "data", **backend.settings())


@pytest.mark.parametrize("shape", DEPLOYMENTS, ids=[d.name for d in DEPLOYMENTS])
def test_each_event_is_delivered_once_signed_after_two_failures(
    shape: Deployment, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each `forcegate serve` sums its own workers' figures (a fresh folder per run): the hosts add up.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    receiver = Receiver()
    org = expiring_org(rsa_key, time.time())
    with ExitStack() as stack:
        hook = stack.enter_context(receiver.serving())
        backend, settings = stack.enter_context(deployment_settings(shape, tmp_path))
        expected = prepare(settings, org)
        environ = {"FORCEGATE_NOTIFY_URL": hook, "FORCEGATE_NOTIFY_SECRET": SECRET}
        public = f"http://127.0.0.1:{free_port()}"
        servers = []
        for n, workers in enumerate(shape.processes):
            port = int(public.rsplit(":", 1)[1]) if n == 0 else free_port()
            # The first one serves the prepared store (the embedded default); the others are other hosts.
            data_dir = tmp_path / ("data" if n == 0 else f"host{n}")
            server = ServeProcess(backend, data_dir, port=port, public_url=public, workers=workers, environ=environ)
            stack.callback(server.stop)
            servers.append(server)
        deadline = time.monotonic() + DELIVERY_DEADLINE
        while receiver.taken() != set(expected.values()):
            assert time.monotonic() < deadline, f"not delivered in time: {receiver.by_event()}"
            time.sleep(0.2)
        time.sleep(4)  # well past the last retry's backoff: anything sent twice would show now
        attempts = receiver.by_event()
        assert set(attempts) == set(expected.values())
        for event_id, deliveries in attempts.items():
            assert [d.status for d in deliveries] == [503, 503, 200], event_id
            assert [d.headers["forcegate-attempt"] for d in deliveries] == ["1", "2", "3"]
            assert len({d.body for d in deliveries}) == 1  # the same body every time
            for delivery in deliveries:
                assert verify_signature(
                    SECRET, delivery.headers["forcegate-signature"], delivery.body, now=delivery.received_at
                )
                assert delivery.headers["forcegate-event-id"] == event_id
            gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(deliveries)]
            # 2 s then 4 s (less a fifth at most), plus up to a second of polling and a shared machine.
            assert 1.5 <= gaps[0] <= 5.0, gaps
            assert 3.0 <= gaps[1] <= 8.0, gaps
        body = json.loads(attempts[expected["certificate.expiring"]][0].body)
        assert (body["type"], body["source"], body["data"]["org_id"], body["data"]["threshold"]) == (
            "certificate.expiring",
            public,
            ORG_ID,
            7,
        )
        assert body["data"]["days_left"] in (4, 5)
        pending = json.loads(attempts[expected["enrollment.pending_approval"]][0].body)
        assert pending["data"]["username"] == "admin@other.example"
        assert {(n.event_id, n.state, n.attempts) for n in outbox(settings)} == {
            (event_id, "delivered", 3) for event_id in expected.values()
        }
        time.sleep(1.2)  # each worker writes its figures every second
        totals: dict[tuple[str, str], float] = {}
        for server in servers:
            for key, value in notification_counts(server.url).items():
                totals[key] = totals.get(key, 0.0) + value
        for event_type in expected:
            assert totals[(event_type, "delivered")] == 1
            assert totals[(event_type, "retried")] == 2
            assert totals[(event_type, "enqueued")] == 1
            assert totals[(event_type, "abandoned")] == 0


def in_flight(found: list[Notification]) -> bool:
    """Both events claimed by a sender, on their first attempt, with no outcome yet."""
    return len(found) == 2 and all((n.state, n.attempts, n.last_error) == ("pending", 1, "") for n in found)


@contextmanager
def hanging_receiver() -> Iterator[tuple[str, socket.socket]]:
    """A port that takes connections (the kernel completes them) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hooks", sock
    finally:
        sock.close()


def test_a_hanging_receiver_never_slows_a_token_request(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    org = expiring_org(rsa_key, time.time())
    settings = Settings(data_dir=tmp_path / "data")
    prepare(settings, org)
    port = free_port()
    with hanging_receiver() as (hook, _):
        environ = {"FORCEGATE_NOTIFY_URL": hook, "FORCEGATE_NOTIFY_TIMEOUT": "30"}
        server = ServeProcess(
            None, tmp_path / "data", port=port, public_url=f"http://127.0.0.1:{port}", environ=environ
        )
        try:
            deadline = time.monotonic() + 20
            while not in_flight(outbox(settings)):
                assert time.monotonic() < deadline, outbox(settings)
                time.sleep(0.1)
            # Both events are now being sent, each waiting up to 30 s for an answer that never comes.
            org.clock.set(time.time())
            took = []
            for _ in range(30):
                started = time.perf_counter()
                response = post_token(server.url, org.assertion(server.url + "/oauth2/token"))
                took.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            assert in_flight(outbox(settings))  # still waiting on the receiver
        finally:
            server.stop()
    # Stopped by SIGTERM in the middle of those sends: the notifier was cancelled, the exit clean.
    assert server.process.returncode == 0, server.log.read_text()
    assert statistics.median(took) < 0.2, took
    assert max(took) < 1.0, took
