"""The periodic purge: expired claims, rate counters, tokens and sessions, and audit events past the retention limit."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.clock import FixedClock
from forcegate.service.authentication import AuthenticationService as Service
from forcegate.service.maintenance import purge_expired
from forcegate.settings import Settings
from forcegate.stores import AuditEvent, Enrollment, open_stores
from forcegate.stores.models import SignIn
from helpers import self_signed

DAY = 86_400.0
NOW = 1_800_000_000.0


def _event(at: float) -> AuditEvent:
    return AuditEvent(at=at, endpoint="/oauth2/token", credential="jwt-bearer", result="allowed", code="ok")


def _run_purge(tmp_path: Path, retention_days: int) -> tuple[dict[str, int], list[float], bool]:
    settings = Settings(data_dir=tmp_path / "data", audit_retention_days=retention_days)

    async def scenario() -> tuple[dict[str, int], list[float], bool]:
        stores = await open_stores(settings)
        try:
            await stores.audit.append([_event(NOW - 40 * DAY), _event(NOW - 10 * DAY), _event(NOW - 1)])
            await stores.replay.claim("lapsed", NOW - 1, now=NOW - 100)
            await stores.rates.hit("assertions:o", NOW - 120, 60, now=NOW - 120)  # a window that ended
            await stores.rates.hit("assertions:o", NOW - 30, 60, now=NOW - 30)  # the current one
            service = Service(settings, stores, clock=FixedClock(NOW))
            purged = await purge_expired(service.stores, service.settings, service.clock)
            remaining = sorted(e.at for e in await stores.audit.query())
            reclaimable = await stores.replay.claim("lapsed", NOW + 60, now=NOW)
            return purged, remaining, reclaimable
        finally:
            await stores.close()

    return asyncio.run(scenario())


def test_audit_events_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    purged, remaining, reclaimable = _run_purge(tmp_path, retention_days=30)
    assert purged["audit"] == 1
    assert purged["replay"] == 1
    assert purged["rates"] == 1
    assert remaining == [NOW - 10 * DAY, NOW - 1]
    assert reclaimable is True


def test_retention_zero_keeps_the_audit_log(tmp_path: Path) -> None:
    purged, remaining, _ = _run_purge(tmp_path, retention_days=0)
    assert "audit" not in purged
    assert len(remaining) == 3


def test_enrollment_sign_ins_are_purged_and_lapsed_codes_expired(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    der = self_signed(ec.generate_private_key(ec.SECP256R1())).public_bytes(Encoding.DER)

    async def scenario() -> tuple[dict[str, int], str | None]:
        stores = await open_stores(settings)
        try:
            for id_hash, expires_at in (("a" * 64, NOW - 1), ("b" * 64, NOW + 60)):
                await stores.enrollments.begin_sign_in(
                    SignIn(id_hash=id_hash, state_hash="c" * 64, login_url="https://login.salesforce.com",
                           created_at=NOW - 600, expires_at=expires_at)
                )  # fmt: skip
            await stores.enrollments.add_enrollment(
                Enrollment(
                    enrollment_id="enr_" + "a" * 20, org_id="00D5g000004ABCDEA4", user_id="0055g00000AbCdEAAV",
                    username="u@x", certificate_der=der, sha256_fingerprint=hashlib.sha256(der).hexdigest(),
                    state="pending_proof", code_digest="d" * 64, code_expires_at=NOW - 1, created_at=NOW - DAY,
                    updated_at=NOW - DAY,
                )
            )  # fmt: skip
            purged = await purge_expired(stores, settings, FixedClock(NOW))
            found = await stores.enrollments.get_enrollment("enr_" + "a" * 20)
            return purged, None if found is None else found.state
        finally:
            await stores.close()

    purged, state = asyncio.run(scenario())
    assert purged["enrollment_sign_ins"] == 1
    assert purged["enrollment_codes"] == 1
    assert state == "expired"
