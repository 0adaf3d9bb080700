"""The console debugger's dry run: the live checks, decoded input, and no effect on any store."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.errors import MalformedToken
from forcegate.registry import RegistryService
from forcegate.service.authentication import AuthenticationService
from forcegate.service.debugger import dry_run
from forcegate.settings import Settings
from forcegate.stores import Org, Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.sqlite import open_sqlite_stores
from server.live import ORG_ID, USER_ID, make_org

URL = "https://service.example"
KEY, SECRET = "3MVG9_debugger_key", "a-canvas-consumer-secret-1"


async def _service(path: Path, clock: FixedClock, org_certificate_pem: str) -> tuple[AuthenticationService, Stores]:
    stores = await open_sqlite_stores(str(path / "forcegate.db"), box=SecretBox(os.urandom(32)))
    await stores.trust.add_app(consumer_key=KEY, name="App", secret=SECRET)
    await stores.trust.add_org(Org(org_id=ORG_ID), apps=[KEY])
    await stores.trust.add_certificate(ORG_ID, x509.load_pem_x509_certificate(org_certificate_pem.encode()))
    await RegistryService(stores, clock=clock).ensure_signing_key()
    service = AuthenticationService(Settings(public_url=URL, data_dir=path), stores, clock=clock)
    await service.load_signing_keys()
    return service, stores


async def _counts(stores: Stores) -> tuple[int, int]:
    events = await stores.audit.query(limit=1000)
    return len(events), await stores.trust.generation()


def test_jwt_verdicts_name_the_failing_check_and_spend_nothing(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    clock = FixedClock(float(int(time.time())))
    org = make_org(ORG_ID, rsa_key, clock)

    async def scenario() -> None:
        service, stores = await _service(tmp_path, clock, org.certificate_pem)
        try:
            assertion = org.assertion(URL + "/oauth2/token")
            before = await _counts(stores)
            ok = await dry_run(service, assertion)
            assert ok.ok
            assert ok.kind == "jwt"
            assert ok.org_id == ORG_ID
            assert ok.decoded["header"]["alg"] == "RS256"
            assert ok.decoded["claims"]["iss"] == ORG_ID
            again = await dry_run(service, assertion)  # not claimed: the same verdict twice
            assert again.ok
            wrong_audience = await dry_run(service, org.assertion("https://elsewhere.example/oauth2/token"))
            assert (wrong_audience.ok, wrong_audience.code) == (False, "invalid_audience")
            assert wrong_audience.check == "audience (aud)"
            clock.advance(3600)
            expired = await dry_run(service, assertion)
            assert (expired.code, expired.check) == ("token_expired", "expiry (exp)")
            assert await _counts(stores) == before
            # The real claim still succeeds afterwards: the dry runs did not spend it.
            assert await stores.replay.claim("probe", clock.now() + 60, now=clock.now())
        finally:
            await stores.close()

    asyncio.run(scenario())


def test_canvas_verdicts_and_the_hidden_oauth_token(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    clock = FixedClock(float(int(time.time())))
    org = make_org(ORG_ID, rsa_key, clock)

    async def scenario() -> None:
        service, stores = await _service(tmp_path, clock, org.certificate_pem)
        try:
            envelope = build_envelope(
                org_id=ORG_ID, user_id=USER_ID, oauth_token="00Dx!secret-session", now=clock.now()
            )
            signed = sign_envelope(envelope, SECRET)
            ok = await dry_run(service, signed)
            assert ok.ok
            assert ok.kind == "canvas"
            assert ok.decoded["envelope"]["client"]["oauthToken"] == "(hidden)"
            forged = await dry_run(service, sign_envelope(envelope, "not-the-consumer-secret"))
            assert (forged.ok, forged.code) == (False, "canvas_signature_invalid")
            unbound = build_envelope(org_id="00D5g000004XYZWEA4", user_id=USER_ID, now=clock.now())
            refused = await dry_run(service, sign_envelope(unbound, SECRET))
            assert refused.code == "canvas_org_refused"
            assert await stores.sessions.get("x" * 64) is None
        finally:
            await stores.close()

    asyncio.run(scenario())


def test_junk_is_a_clear_refusal(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    clock = FixedClock(float(int(time.time())))
    org = make_org(ORG_ID, rsa_key, clock)

    async def scenario() -> None:
        service, stores = await _service(tmp_path, clock, org.certificate_pem)
        try:
            for text in ("", "   ", "no dots at all"):
                with pytest.raises(MalformedToken):
                    await dry_run(service, text)
            garbled = await dry_run(service, "a.b.c")
            assert (garbled.ok, garbled.code) == (False, "malformed_token")
            assert garbled.decoded == {"header": None, "claims": None}
        finally:
            await stores.close()

    asyncio.run(scenario())
