"""Property-based fuzzing of the service from its own OpenAPI document: no request may be answered 5xx.

For every operation of the document served at ``/openapi.json``, schemathesis sends a real server on
an ephemeral port requests that fit the document and requests that break it (wrong types, missing or
extra fields, boundary values, other content types and methods, made-up credentials). The property
the service promises whatever it is sent: it never answers with a server error, and never hangs. And
the document keeps its word: every answer has a status the operation documents, and its content type,
headers and body fit what is documented for that status.

Each operation runs twice: with the credentials schemathesis makes up from the security schemes (or
none), and with the real admin token as bearer, so the fuzzed input reaches the admin handlers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from forcegate.clock import FixedClock
from forcegate.server.openapi import openapi_document
from forcegate.settings import Settings
from server.live import ORG_ID, LiveServer, make_org, start_server

# Schemathesis makes one test per operation at collection, before any server runs, so the document is
# built here; ``test_the_fuzzed_document_is_the_served_one`` checks that it is what the server serves.
# (Its lazy loader, ``schemathesis.pytest.from_fixture``, would read it from the running server, but
# it fails on pytest 9.2: it assigns ``Node._nodeid``, which pytest no longer has.)
DOCUMENT = openapi_document(Settings())
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)

# Deterministic (examples derived from the test), bounded, and no example database written anywhere.
FUZZ = settings(max_examples=40, derandomize=True, deadline=None, database=None)
REQUEST_TIMEOUT = 5  # seconds: a request the server does not answer by then fails the test (a hang)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> Iterator[LiveServer]:
    """A live server with an org and its certificate registered, so some requests get past the lookups."""
    clock = FixedClock(float(int(time.time())))
    server = start_server(Path(tmp_path_factory.mktemp("fuzz")) / "data", clock=clock)
    try:
        org = make_org(ORG_ID, rsa_key, clock)
        with server.admin() as admin:
            response = admin.post("/admin/api/v1/orgs", json={"org_id": ORG_ID, "name": "Acme", "scopes": ["api"]})
            assert response.status_code == 201, response.text
            response = admin.post(
                f"/admin/api/v1/orgs/{ORG_ID}/certificates", json={"certificate": org.certificate_pem}
            )
            assert response.status_code == 201, response.text
        yield server
    finally:
        server.stop()


def _without_servers(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "servers"}


def test_the_fuzzed_document_is_the_served_one(fuzzed_server: LiveServer) -> None:
    with fuzzed_server.client() as client:
        served = client.get("/openapi.json").json()
    assert _without_servers(served) == _without_servers(DOCUMENT)


# The pytest parametrization also names each test: under pytest 9.2 schemathesis's own per-operation
# items would otherwise all share one node id; with it they read `test_no_server_error[GET /x][admin-token]`.
@SCHEMA.parametrize()
@pytest.mark.parametrize("as_admin", [False, True], ids=["made-up-credentials", "admin-token"])
@FUZZ
def test_no_server_error(case: schemathesis.Case[Any], as_admin: bool, fuzzed_server: LiveServer) -> None:
    headers = {"authorization": f"Bearer {fuzzed_server.admin_token}"} if as_admin else None
    case.call_and_validate(base_url=fuzzed_server.url, headers=headers, checks=CHECKS, timeout=REQUEST_TIMEOUT)
