"""Over HTTP: an org pinned to another algorithm than RS256, and a certificate registered before it starts."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from helpers import make_jws, self_signed
from server.live import ORG_ID, USERNAME, LiveServer, exchange

PREFIX = "/admin/api/v1"


def _claims(server: LiveServer) -> dict[str, Any]:
    now = int(server.clock.now())
    return {"iss": ORG_ID, "sub": USERNAME, "aud": server.token_endpoint, "exp": now + 120, "jti": secrets.token_hex(8)}


def _register(server: LiveServer, certificate_pem: str, **org: Any) -> None:
    with server.admin() as admin:
        assert admin.post(f"{PREFIX}/orgs", json={"org_id": ORG_ID, **org}).status_code == 201
        added = admin.post(f"{PREFIX}/orgs/{ORG_ID}/certificates", json={"certificate": certificate_pem})
        assert added.status_code == 201, added.text


def test_an_org_pinned_to_es256(live_server: LiveServer, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = self_signed(ec_key).public_bytes(Encoding.PEM).decode()
    _register(live_server, pem, algorithms=["ES256"])
    granted = exchange(live_server, make_jws(_claims(live_server), ec_key, alg="ES256"))
    assert granted.status_code == 200, granted.text
    with live_server.admin() as admin:
        # Back to RS256 only: the same kind of assertion is refused from the next request on.
        assert admin.patch(f"{PREFIX}/orgs/{ORG_ID}", json={"algorithms": ["RS256"]}).status_code == 200
        refused = exchange(live_server, make_jws(_claims(live_server), ec_key, alg="ES256"))
        assert refused.json() == {"error": "invalid_grant"}
        [event] = admin.get(f"{PREFIX}/audit", params={"limit": 1}).json()
    assert event["code"] == "unsupported_algorithm"


def test_rs512_for_an_org_whose_external_credential_signs_so(
    live_server: LiveServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    _register(live_server, self_signed(rsa_key).public_bytes(Encoding.PEM).decode(), algorithms=["RS256", "RS512"])
    for alg in ("RS256", "RS512"):
        assert exchange(live_server, make_jws(_claims(live_server), rsa_key, alg=alg)).status_code == 200


def test_a_certificate_not_valid_yet_verifies_nothing_until_it_starts(
    live_server: LiveServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    leeway = live_server.settings.leeway
    start = dt.datetime.fromtimestamp(live_server.clock.now(), dt.UTC) + dt.timedelta(seconds=leeway + 3600)
    _register(live_server, self_signed(rsa_key, start=start).public_bytes(Encoding.PEM).decode())
    refused = exchange(live_server, make_jws(_claims(live_server), rsa_key, alg="RS256"))
    assert refused.status_code == 400
    with live_server.admin() as admin:
        [event] = admin.get(f"{PREFIX}/audit", params={"limit": 1}).json()
    assert (event["code"], "not valid yet" in event["detail"]) == ("key_not_found", True)
    live_server.clock.advance(3600)  # now within the leeway of its notBefore
    assert exchange(live_server, make_jws(_claims(live_server), rsa_key, alg="RS256")).status_code == 200
