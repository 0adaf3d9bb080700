"""Support for the server tests: a real server on an ephemeral 127.0.0.1 port, and the org that talks to it.

The server is uvicorn in a background thread, serving a socket bound to port 0 before the settings
are made (so the public URL, and therefore the accepted audiences, name the real port). The service
and the emulated org share one :class:`FixedClock`, so expiry is tested to the second.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools import AuthJWS, AuthJWT, CertificateAndKeyManagement
from forcegate.server.app import ForcegateApp, create_app
from forcegate.service.bootstrap import bootstrap
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores
from forcegate.stores.opening import open_stores
from helpers import self_signed

ORG_ID = "00D5g000004ABCDEA4"
OTHER_ORG_ID = "00D5g000004XYZWEA4"
USER_ID = "0055g00000AbCdEAAV"
RECORD_ID = "0015g00000XyZabAAF"
USERNAME = "ada@example.com"
CERT_NAME = "forcegate_cert"
CONSUMER_KEY = "3MVG9_test_consumer_key"
CONSUMER_SECRET = "canvas-consumer-secret-1"


@dataclass
class LiveServer:
    url: str
    settings: Settings
    app: ForcegateApp
    clock: FixedClock
    admin_token: str = field(repr=False)
    server: uvicorn.Server = field(repr=False)
    thread: threading.Thread = field(repr=False)
    stores: Stores | None = field(default=None, repr=False)  # given to the app: closed by stop()

    @property
    def token_endpoint(self) -> str:
        return self.url + "/oauth2/token"

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.admin_token}"}, timeout=10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "server thread did not stop"
        if self.stores is not None:
            stores = self.stores

            async def close() -> None:
                await stores.close()

            asyncio.run(close())


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def start_server(
    data_dir: Path,
    *,
    clock: FixedClock,
    sock: socket.socket | None = None,
    wrap_stores: Callable[[Stores], Stores] | None = None,
    **overrides: Any,
) -> LiveServer:
    """Bootstrap ``data_dir`` (first start prints nothing here: the token is returned) and serve it.

    ``wrap_stores``: open the stores here and give the app ``wrap_stores(stores)`` (to fake a failing one).
    """
    sock = sock or _free_socket()
    port = sock.getsockname()[1]
    # Several servers behind one load balancer share a public URL: an override names it.
    settings = Settings(**{"public_url": f"http://127.0.0.1:{port}", "data_dir": data_dir, "port": port, **overrides})
    result = asyncio.run(bootstrap(settings, clock=clock))
    stores = asyncio.run(open_stores(settings, migrate="check")) if wrap_stores is not None else None
    app = create_app(
        settings, clock=clock, stores=None if stores is None or wrap_stores is None else wrap_stores(stores)
    )
    # As forcegate serve runs it: forwarded headers are forcegate's to judge (trusted_proxies), not uvicorn's.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", loop="asyncio", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return LiveServer(
        url=f"http://127.0.0.1:{port}",
        settings=settings,
        app=app,
        clock=clock,
        admin_token=result.admin_token or "",
        server=server,
        thread=thread,
        stores=stores,
    )


@dataclass
class Org:
    """The emulated subscriber org: its id, its Certificate and Key Management, and Apex's JWT calls."""

    org_id: str
    certificates: CertificateAndKeyManagement
    certificate: x509.Certificate
    clock: FixedClock

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def assertion(
        self,
        audience: str,
        *,
        iss: str | None = None,
        sub: str = USERNAME,
        claims: dict[str, Any] | None = None,
        validity: int = 300,
        cert_name: str = CERT_NAME,
    ) -> str:
        if claims is None:
            claims = {
                "user_id": USER_ID,
                "instance_url": "https://example.my.salesforce.com",
                "record_id": RECORD_ID,
                "params": {"region": "EMEA", "tier": 2},
            }
        # Two assertions with the same claims in the same second are the same token (RS256 is
        # deterministic): a random nonce keeps them apart, as docs/claim-profile.md advises Apex authors.
        claims = {"nonce": secrets.token_hex(8), **claims}
        jwt = AuthJWT(iss=iss or self.org_id, sub=sub, aud=audience, validity_length=validity, additional_claims=claims)
        return AuthJWS(jwt, cert_name, certificates=self.certificates, clock=self.clock).compact_serialization()


def make_org(org_id: str, key: rsa.RSAPrivateKey, clock: FixedClock, *, cn: str = "org-cert") -> Org:
    certificate = self_signed(key, cn=cn, start=dt.datetime.fromtimestamp(clock.now(), dt.UTC) - dt.timedelta(days=1))
    certificates = CertificateAndKeyManagement()
    certificates.add(CERT_NAME, private_key=key, certificate=certificate)
    return Org(org_id, certificates, certificate, clock)


JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def post_token(url: str, assertion: str, **extra: str) -> httpx.Response:
    """What Auth.JWTBearerTokenExchange sends to the service at ``url``: the grant type and the
    assertion, no client credentials."""
    form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion, **extra}
    return httpx.post(url + "/oauth2/token", data=form, timeout=30)


def get_me(url: str, token: str) -> httpx.Response:
    """``GET /api/v1/me`` at ``url`` with ``token`` as the bearer credential."""
    return httpx.get(url + "/api/v1/me", headers={"authorization": f"Bearer {token}"}, timeout=30)


def exchange(server: LiveServer, assertion: str, **extra: str) -> httpx.Response:
    return post_token(server.url, assertion, **extra)


def register_org(url: str, admin_token: str, org: Org, *, scopes: tuple[str, ...] = ("api",)) -> None:
    """Register ``org`` and trust its certificate through the admin API of the server at ``url``."""
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as admin:
        response = admin.post("/admin/api/v1/orgs", json={"org_id": org.org_id, "scopes": list(scopes)})
        assert response.status_code == 201, response.text
        certificate = {"certificate": org.certificate_pem}
        response = admin.post(f"/admin/api/v1/orgs/{org.org_id}/certificates", json=certificate)
        assert response.status_code == 201, response.text


def jti_of(access_token: str) -> str:
    """The ``jti`` of one of the service's access tokens (read, not verified)."""
    payload = access_token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])
