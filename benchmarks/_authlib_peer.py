"""The peer of benchmarks/bench_vs_authlib.py: a typical Python JWT-bearer token endpoint.

Flask + Authlib's ``JWTBearerGrant`` (RFC 7523), as its documentation shows it, with what a careful
application adds so that the comparison is like for like with forcegate: the org's certificate as
the client's key, the audience checked, single use (a used assertion's digest is recorded and a
second use refused) and the issued token recorded, both in one SQLite transaction per grant (WAL,
the same durability as forcegate's embedded default). Run under gunicorn::

    BENCH_PEER_CERT=cert.pem BENCH_PEER_AUDIENCE=http://127.0.0.1:PORT/oauth2/token BENCH_PEER_DB=peer.db \\
        gunicorn -w 2 -b 127.0.0.1:PORT _authlib_peer:app
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc7523 import JWTBearerGrant
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, request
from joserfc.jwk import RSAKey

ORG_ID = "00D5g000004ABCDEA4"
CERTIFICATE = x509.load_pem_x509_certificate(Path(os.environ["BENCH_PEER_CERT"]).read_bytes())
AUDIENCE = os.environ["BENCH_PEER_AUDIENCE"]
DATABASE = os.environ["BENCH_PEER_DB"]

_local = threading.local()


def _db() -> sqlite3.Connection:
    connection: sqlite3.Connection | None = getattr(_local, "db", None)
    if connection is None:
        connection = sqlite3.connect(DATABASE, isolation_level=None, timeout=10)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # forcegate's embedded default, too
        connection.execute("CREATE TABLE IF NOT EXISTS used (digest TEXT PRIMARY KEY, expires_at REAL)")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, client TEXT, scope TEXT, at REAL)"
        )
        _local.db = connection
    return connection


class Client(ClientMixin):  # type: ignore[misc]
    def get_client_id(self) -> str:
        return ORG_ID

    def get_default_redirect_uri(self) -> str:
        return ""

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or "api"  # the org's scope, as forcegate grants it when none is asked

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return bool(grant_type == JWTBearerGrant.GRANT_TYPE)


CLIENT = Client()
_PUBLIC_KEY = CERTIFICATE.public_key()
assert isinstance(_PUBLIC_KEY, rsa.RSAPublicKey)
KEY = RSAKey.import_key(_PUBLIC_KEY)


class Grant(JWTBearerGrant):  # type: ignore[misc]
    def resolve_issuer_client(self, issuer: str) -> Client | None:
        return CLIENT if issuer == ORG_ID else None

    def resolve_client_public_key(self, client: Client) -> Any:
        return KEY

    def authenticate_user(self, subject: str) -> dict[str, str]:
        return {"sub": subject}

    def has_granted_permission(self, client: Client, user: dict[str, str]) -> bool:
        return True

    def get_audiences(self) -> list[str]:
        return [AUDIENCE]

    def create_token_response(self) -> Any:
        token = self.generate_token(
            scope=self.request.payload.scope, user=self.request.user, include_refresh_token=False
        )
        assertion = request.form["assertion"]
        digest = hashlib.sha256(assertion.encode()).hexdigest()
        db = _db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("INSERT OR IGNORE INTO used VALUES (?, ?)", (digest, time.time() + 360)).rowcount != 1:
                db.execute("ROLLBACK")
                return 400, {"error": "invalid_grant", "error_description": "assertion already used"}, []
            db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?)",
                (token["access_token"], ORG_ID, token.get("scope"), time.time()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return 200, token, self.TOKEN_RESPONSE_HEADER


app = Flask(__name__)
server = AuthorizationServer(app, query_client=lambda client_id: CLIENT if client_id == ORG_ID else None)
server.register_grant(Grant)


@app.post("/oauth2/token")
def issue_token() -> Any:
    return server.create_token_response()
