"""The scene works and the checks can fail: genuine credentials of each org are accepted, and the
harness notices an accepted credential and an outbound connection.

Without these, every refusal in the suite could be the scene's fault (a certificate not trusted, a
wrong audience) rather than the attack's.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from attacks.forge import APP_Y, SECRET_Y
from attacks.harness import ENTRIES, Library, Target
from core.assertion_support import MemoryReplay
from forcegate.devtools import build_envelope, sign_envelope
from server.live import USER_ID


def _genuine(forge: Any, issuer: str) -> str:
    if issuer == "org-a":
        return str(forge.token())
    if issuer == "consumer-key-x":
        return str(forge.token(forge.claims(iss=forge.app_x, org_id=forge.org_a)))
    return str(forge.token(forge.claims(iss=forge.org_b), key=forge.key_b))


ISSUERS = ("org-a", "consumer-key-x", "org-b")


@pytest.mark.parametrize("issuer", ISSUERS)
def test_genuine_assertions_are_accepted_by_the_core(library: Library, issuer: str) -> None:
    forge = library.forge
    verified = library.verify(_genuine(forge, issuer), MemoryReplay())
    assert verified.identity.org_id == (forge.org_b if issuer == "org-b" else forge.org_a)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("issuer", ISSUERS)
def test_genuine_assertions_are_accepted_over_http(http: Target, issuer: str, entry: str) -> None:
    forge = http.forge
    token = _genuine(forge, issuer)
    response = http.token(token) if entry == "token" else http.me(token)
    assert response.status_code == 200, response.text
    if entry == "api":
        assert response.json()["org_id"] == (forge.org_b if issuer == "org-b" else forge.org_a)


@pytest.mark.parametrize(
    ("org", "secret", "path"),
    [
        pytest.param("a", "x", "/canvas", id="x-org-a-shared"),
        pytest.param("a", "x", "/canvas/{x}", id="x-org-a-at-x"),
        pytest.param("b", "y", "/canvas", id="y-org-b-shared"),
        pytest.param("b", "y", "/canvas/{y}", id="y-org-b-at-y"),
    ],
)
def test_genuine_signed_requests_open_a_session(http: Target, org: str, secret: str, path: str) -> None:
    forge = http.forge
    org_id = forge.org_a if org == "a" else forge.org_b
    signed = sign_envelope(
        build_envelope(org_id=org_id, user_id=USER_ID, now=forge.now), forge.secret_x if secret == "x" else SECRET_Y
    )
    before = http.state()
    response = http.canvas(signed, path.format(x=forge.app_x, y=APP_Y))
    assert response.status_code == 303, response.text
    assert response.headers["set-cookie"].startswith("forcegate_session=")
    assert http.state().rows["sessions"] == before.rows["sessions"] + 1


def test_the_core_harness_notices_an_accepted_assertion(library: Library) -> None:
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        library.refuse(library.forge.token(), "invalid_signature")


@pytest.mark.parametrize("entry", ENTRIES)
def test_the_http_harness_notices_an_accepted_assertion(http: Target, entry: str) -> None:
    with pytest.raises(AssertionError, match="200"):
        http.refused_assertion(http.forge.token(), "invalid_signature", entry)


def test_the_http_harness_notices_a_wrong_code(http: Target) -> None:
    with pytest.raises(AssertionError, match="unknown_issuer"):
        http.refused_at_token_endpoint(http.forge.token(key=http.forge.attacker), "unknown_issuer")


def test_the_outbound_guard_notices_a_connection(no_outbound: list[object], canary: str) -> None:
    address = urlsplit(canary)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=5):
        pass
    assert ("connect", (address.hostname, address.port)) in no_outbound
    no_outbound.clear()  # noticed: let this one test pass
