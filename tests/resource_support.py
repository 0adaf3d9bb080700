"""Support for the tests of forcegate.resource: a real local HTTP server standing in for the service's JWKS.

:class:`KeyServer` is the standard library's threading HTTP server on an ephemeral 127.0.0.1 port: it
serves a JWKS (or whatever a test makes it answer), counts the requests, and can be slow, fail,
redirect or send an oversized body. :class:`Signer` signs access tokens with forcegate's own issuer
(the verifier under test is the other side). Here rather than in tests/resource/: a ``resource``
package of the tests would shadow the standard library's ``resource`` module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from forcegate.clock import Clock
from forcegate.core.access_token import AccessTokenIssuer, es256_jwk, new_signing_key
from forcegate.core.identity import Identity

ISSUER = "https://auth.example.com"
ORG_ID = "00D5g000004ABCDEA4"
USER_ID = "0055g00000AbCdEAAV"


@dataclass
class Behaviour:
    """What the server answers next (tests change it between calls)."""

    body: bytes = b'{"keys":[]}'
    status: int = 200
    delay: float = 0.0
    location: str | None = None
    chunked: bool = False
    requests: list[str] = field(default_factory=list)


class KeyServer:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        behaviour = self.behaviour

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                behaviour.requests.append(self.path)
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                self.send_response(behaviour.status)
                if behaviour.location is not None:
                    self.send_header("location", behaviour.location)
                self.send_header("content-type", "application/json")
                if behaviour.chunked:
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(behaviour.body), 1024):
                        piece = behaviour.body[start : start + 1024]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("content-length", str(len(behaviour.body)))
                self.end_headers()
                self.wfile.write(behaviour.body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

    @property
    def fetches(self) -> int:
        return len(self.behaviour.requests)

    def publish(self, *keys: tuple[ec.EllipticCurvePrivateKey, str]) -> None:
        self.behaviour.body = orjson.dumps({"keys": [es256_jwk(key.public_key(), kid) for key, kid in keys]})
        self.behaviour.status = 200

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Signer:
    """One signing key of the service, and an issuer of tokens with it."""

    key: ec.EllipticCurvePrivateKey
    kid: str
    clock: Clock

    @classmethod
    def new(cls, clock: Clock) -> Signer:
        key, kid = new_signing_key()
        return cls(key, kid, clock)

    def token(
        self,
        *,
        scopes: tuple[str, ...] = ("api", "orders:read"),
        issuer: str = ISSUER,
        audience: str | None = None,
        lifetime: int = 600,
    ) -> str:
        issuing = AccessTokenIssuer(
            private_key=self.key,
            kid=self.kid,
            issuer=issuer,
            audience=audience or issuer,
            lifetime=lifetime,
            clock=self.clock,
        )
        identity = Identity(
            source="jwt-bearer",
            org_id=ORG_ID,
            user_id=USER_ID,
            username="ada@example.com",
            parameters={"region": "EMEA"},
            scopes=frozenset(scopes),
            issuer="00D5g000004ABCDEA4",
        )
        return issuing.issue(identity, client_id=ORG_ID)[0]
