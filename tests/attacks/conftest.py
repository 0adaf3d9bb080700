"""Fixtures of the attack suite: the scene (two orgs, two apps, an attacker), in the core and on a live server.

Org A trusts its certificate (``rsa_key``), its own id and the consumer key X as issuers, and the
Canvas app X; org B trusts ``other_rsa_key`` and the Canvas app Y. The attacker has a key and a
certificate of their own, and knows everything public: both certificates, the service's URL, the
apps' consumer keys. Keys are made once per session (tests/conftest.py); one server per module.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from attacks.forge import APP_Y, SECRET_Y, Forge
from attacks.harness import Library, Target
from core.assertion_support import AUD, NOW, FakeDirectory
from forcegate.clock import FixedClock
from forcegate.core.assertion import AssertionVerifier
from forcegate.core.trust import OrgTrust
from forcegate.core.trusted_key import TrustedKey
from helpers import self_signed
from server.live import CONSUMER_KEY, CONSUMER_SECRET, ORG_ID, OTHER_ORG_ID, start_server

#: Addresses the tests may connect to: the live servers. Any other connection or name lookup made
#: while a test runs (a jku fetched, a userinfo call) fails the test.
SERVERS: set[tuple[str, int]] = set()


@pytest.fixture(scope="session")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def canary() -> Iterator[str]:
    """A listening loopback socket that nothing may connect to (the target of jku / x5u)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/.well-known/jwks.json"


@pytest.fixture(scope="session")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file a shell command smuggled in a kid would create."""
    return tmp_path_factory.mktemp("attacks") / "pwned"


@pytest.fixture(autouse=True)
def no_outbound(monkeypatch: pytest.MonkeyPatch, marker: Path) -> Iterator[list[object]]:
    """Record every connection and name lookup to anything but a live server; none may happen."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(address: Any) -> bool:
        return isinstance(address, tuple) and len(address) >= 2 and (str(address[0]), int(address[1])) in SERVERS

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(address):
            attempts.append(("connect", address))
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(address):
            attempts.append(("connect", address))
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not (isinstance(port, int | str) and str(port).isdigit() and allowed((host, int(port)))):
            attempts.append(("getaddrinfo", host, port))
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], "outbound connection attempted"
    assert not marker.exists(), "a shell command ran"


def _forge(
    *,
    now: int,
    audience: str,
    start: dt.datetime,
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey],
    canary: str,
    marker: Path,
) -> tuple[Forge, x509.Certificate, x509.Certificate]:
    key_a, key_b, attacker, ec_key = keys
    cert_a = self_signed(key_a, cn="org-a", start=start)
    cert_b = self_signed(key_b, cn="org-b", start=start)
    # The attacker's certificate names the same subject as org A's: only the key tells them apart.
    attacker_cert = self_signed(attacker, cn="org-a", start=start)
    forge = Forge(
        audience=audience,
        now=now,
        org_a=ORG_ID,
        org_b=OTHER_ORG_ID,
        app_x=CONSUMER_KEY,
        secret_x=CONSUMER_SECRET,
        key_a=key_a,
        key_b=key_b,
        attacker=attacker,
        ec_key=ec_key,
        cert_a=cert_a,
        attacker_cert=attacker_cert,
        canary=canary,
        marker=marker,
    )
    return forge, cert_a, cert_b


# --- the core ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    attacker_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    canary: str,
    marker: Path,
) -> tuple[Forge, OrgTrust, OrgTrust]:
    forge, cert_a, cert_b = _forge(
        now=NOW,
        audience=AUD,
        start=dt.datetime.fromtimestamp(NOW, dt.UTC) - dt.timedelta(days=1),
        keys=(rsa_key, other_rsa_key, attacker_key, ec_key),
        canary=canary,
        marker=marker,
    )
    org_a = OrgTrust(
        org_id=ORG_ID,
        enabled=True,
        issuers=frozenset({ORG_ID, CONSUMER_KEY}),
        subjects=None,
        scopes=frozenset({"api"}),
        keys=(TrustedKey.from_certificate(cert_a, label="org A"),),
        apps=frozenset({CONSUMER_KEY}),
    )
    org_b = OrgTrust(
        org_id=OTHER_ORG_ID,
        enabled=True,
        issuers=frozenset({OTHER_ORG_ID}),
        subjects=None,
        scopes=frozenset({"b-only"}),
        keys=(TrustedKey.from_certificate(cert_b, label="org B"),),
        apps=frozenset({APP_Y}),
    )
    return forge, org_a, org_b


@pytest.fixture
def library(scene: tuple[Forge, OrgTrust, OrgTrust]) -> Library:
    """The core's assertion verifier over a directory of orgs A and B, at the fixed time ``NOW``."""
    forge, org_a, org_b = scene
    directory = FakeDirectory([org_a, org_b], [CONSUMER_KEY, APP_Y])
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=FixedClock(NOW))
    return Library(forge, verifier, directory)


# --- the live server -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    attacker_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    canary: str,
    marker: Path,
) -> Iterator[Target]:
    """A live server (default settings) with orgs A and B, apps X and Y, registered through the admin API."""
    clock = FixedClock(float(int(time.time())))
    server = start_server(tmp_path_factory.mktemp("attack-server") / "data", clock=clock)
    address = ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    SERVERS.add(address)
    try:
        forge, cert_a, cert_b = _forge(
            now=int(clock.now()),
            audience=server.token_endpoint,
            start=dt.datetime.fromtimestamp(clock.now(), dt.UTC) - dt.timedelta(days=1),
            keys=(rsa_key, other_rsa_key, attacker_key, ec_key),
            canary=canary,
            marker=marker,
        )
        with server.admin() as admin:
            for body in (
                {"consumer_key": CONSUMER_KEY, "secret": CONSUMER_SECRET},
                {"consumer_key": APP_Y, "secret": SECRET_Y},
            ):
                response = admin.post("/admin/api/v1/apps", json=body)
                assert response.status_code == 201, response.text
            for org, certificate, extra in (
                (ORG_ID, cert_a, {"scopes": ["api"], "issuers": [ORG_ID, CONSUMER_KEY], "apps": [CONSUMER_KEY]}),
                (OTHER_ORG_ID, cert_b, {"scopes": ["b-only"], "apps": [APP_Y]}),
            ):
                response = admin.post("/admin/api/v1/orgs", json={"org_id": org, **extra})
                assert response.status_code == 201, response.text
                text = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
                response = admin.post(f"/admin/api/v1/orgs/{org}/certificates", json={"certificate": text})
                assert response.status_code == 201, response.text
        database = Path(server.settings.effective_database_url.removeprefix("sqlite:///"))
        target = Target(server, forge, database)
        try:
            yield target
        finally:
            target.close()
    finally:
        SERVERS.discard(address)
        server.stop()


@pytest.fixture
def http(target: Target) -> Target:
    """The module's live server, a minute later than for the previous test: the per-minute counters
    (failed attempts per client, unverified audit rows per client) start over for each case."""
    target.server.clock.advance(60)
    return target
