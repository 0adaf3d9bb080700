"""Certificate rotation from the org in the registry service: the trusted certificate vouches for the
new one, both signatures over one payload; every refusal names its check and changes nothing but the
audit log; the replaced certificate stops verifying at the end of its overlap."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.clock import FixedClock
from forcegate.core.trust import OrgTrust
from forcegate.devtools.apex_jwt import AuthJWS, CertificateAndKeyManagement
from forcegate.devtools.setup_page import rotation_form
from forcegate.errors import (
    AlreadyExists,
    AssertionReplayed,
    CertificateExpired,
    CertificateShared,
    EnrollmentStateConflict,
    ForcegateError,
    InvalidAudience,
    InvalidClaim,
    InvalidSignature,
    OrgDisabled,
    UnknownIssuer,
    WeakKeyError,
)
from forcegate.registry import Actor, EnrollmentRejectionInput, OrgChanges, OrgInput, RegistryService
from forcegate.registry.rotation import ROTATE_PATH
from forcegate.service.registry_cache import RegistryCache
from forcegate.settings import Settings
from forcegate.stores import Stores, open_stores
from helpers import self_signed

ORG = "00D5g000004ABCDEA4"
OTHER_ORG = "00D5g000004XYZWEA4"
NOW = 1_800_000_000.0
PUBLIC_URL = "https://auth.example.com"
ORG_SIDE = Actor(entry=ROTATE_PATH, credential="certificate-rotation", client="192.0.2.9")
WEEK = 7 * 86400


def cert(key: rsa.RSAPrivateKey, *, days: int = 365, cn: str = "acme") -> x509.Certificate:
    return self_signed(key, cn=cn, days=days, start=dt.datetime.fromtimestamp(NOW - 86400, dt.UTC))


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {name: rsa.generate_private_key(public_exponent=65537, key_size=2048) for name in ("old", "new", "x")}


class Harness:
    def __init__(self, tmp_path: Path, keys: dict[str, rsa.RSAPrivateKey], **settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FixedClock(NOW)
        self.stores: Stores = self.run(open_stores(Settings(data_dir=tmp_path / "data")))
        self.settings = Settings(public_url=PUBLIC_URL, data_dir=Path("unused"), **settings)
        self.registry = RegistryService(self.stores, settings=self.settings, clock=self.clock)
        self.ckm = CertificateAndKeyManagement()
        self.ckm.add("old_cert", private_key=keys["old"], certificate=cert(keys["old"]))
        self.ckm.add("new_cert", private_key=keys["new"], certificate=cert(keys["new"], cn="acme-2027"))
        self.ckm.add("stranger", private_key=keys["x"], certificate=cert(keys["x"], cn="x"))
        self.run(self.registry.add_org(OrgInput(org_id=ORG)))
        self.run(self.registry.add_certificates(ORG, [("old", self.ckm.certificate("old_cert"))], actor=ORG_SIDE))

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def form(self, current: str = "old_cert", new: str = "new_cert", **kwargs: Any) -> dict[str, str]:
        params = {"org_id": ORG, "username": "admin@acme.example", "service_url": PUBLIC_URL} | kwargs
        return rotation_form(self.ckm, current=current, new=new, clock=self.clock, **params)

    def rotate(self, form: dict[str, str]) -> Any:
        return self.run(self.registry.rotations.rotate(form["assertion"], form["new_key_assertion"], actor=ORG_SIDE))

    def fingerprints(self, state: str | None = None) -> dict[str, Any]:
        return {
            c.sha256_fingerprint: (c.state, c.retire_at)
            for c in self.run(self.stores.trust.list_certificates(ORG))
            if state is None or c.state == state
        }

    def audit(self) -> list[tuple[str, str]]:
        return [(e.result, e.code) for e in reversed(self.run(self.stores.audit.query()))]

    def snapshot(self) -> tuple[Any, ...]:
        return (
            self.fingerprints(),
            self.run(self.stores.enrollments.enrollment_counts()),
            self.run(self.stores.trust.generation()),
        )

    def close(self) -> None:
        self.run(self.stores.close())
        self.loop.close()


@pytest.fixture
def harness(tmp_path: Path, keys: dict[str, rsa.RSAPrivateKey]) -> Iterator[Harness]:
    harness = Harness(tmp_path, keys)
    yield harness
    harness.close()


def fingerprint(certificate: x509.Certificate) -> str:
    import hashlib

    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def resign(ckm: CertificateAndKeyManagement, compact: str, name: str, **changes: Any) -> str:
    """The same claims as ``compact`` with ``changes``, signed by ``name``."""
    payload = json.loads(base64.urlsafe_b64decode(compact.split(".")[1] + "=="))
    payload.update(changes)
    return AuthJWS(json.dumps(payload, separators=(",", ":")), name, certificates=ckm).compact_serialization()


def test_a_rotation_trusts_the_new_certificate_and_schedules_the_old(harness: Harness) -> None:
    old, new = fingerprint(harness.ckm.certificate("old_cert")), fingerprint(harness.ckm.certificate("new_cert"))
    rotation = harness.rotate(harness.form())
    assert rotation.enrollment.state == "active"
    assert rotation.enrollment.replaces_fingerprint == old
    assert rotation.enrollment.decided_by == "policy:rotation"
    assert rotation.enrollment.username == "admin@acme.example"
    assert rotation.certificate.sha256_fingerprint == new
    assert rotation.retire_at == NOW + WEEK  # the default overlap
    assert harness.fingerprints() == {old: ("active", NOW + WEEK), new: ("active", None)}
    assert ("allowed", "certificate_rotated") in harness.audit()


def test_no_operator_is_needed_even_when_enrollments_wait_for_one(tmp_path: Path, keys: Any) -> None:
    harness = Harness(tmp_path, keys, enrollment_policy="manual")
    try:
        assert harness.rotate(harness.form()).enrollment.state == "active"
    finally:
        harness.close()


def test_the_overlap_is_configurable(tmp_path: Path, keys: Any) -> None:
    harness = Harness(tmp_path, keys, rotation_overlap=0)
    try:
        assert harness.rotate(harness.form()).retire_at == NOW  # retired at once
    finally:
        harness.close()


def test_the_replaced_certificate_verifies_until_the_overlap_ends(harness: Harness) -> None:
    old, new = fingerprint(harness.ckm.certificate("old_cert")), fingerprint(harness.ckm.certificate("new_cert"))
    cache = RegistryCache(harness.stores.trust, clock=harness.clock)

    def trusted() -> set[str]:
        harness.run(cache.refresh())
        org: OrgTrust = harness.run(cache.org(ORG))
        by_x5t = {c.x5t_s256: c.sha256_fingerprint for c in harness.run(harness.stores.trust.list_certificates(ORG))}
        return {by_x5t[key.x5t_s256] for key in org.keys if key.x5t_s256 is not None}

    assert trusted() == {old}
    harness.rotate(harness.form())
    assert trusted() == {old, new}
    harness.clock.advance(WEEK - 1)
    assert trusted() == {old, new}  # the cached entry is still right
    harness.clock.advance(1)
    assert trusted() == {new}  # at retire_at, without any registry write
    assert harness.run(harness.stores.trust.retire_due_certificates(harness.clock.now())) == 1
    assert harness.fingerprints()[old] == ("retired", NOW + WEEK)


def test_rotation_approval_holds_it_until_the_isv_approves(tmp_path: Path, keys: Any) -> None:
    harness = Harness(tmp_path, keys, rotation_approval=True)
    try:
        old = fingerprint(harness.ckm.certificate("old_cert"))
        rotation = harness.rotate(harness.form())
        assert rotation.enrollment.state == "pending_approval"
        assert rotation.certificate is None
        assert harness.fingerprints() == {old: ("active", None)}  # nothing trusted yet
        assert ("allowed", "rotation_pending_approval") in harness.audit()
        harness.clock.advance(3600)
        approved = harness.run(
            harness.registry.enrollments.approve(rotation.enrollment.enrollment_id, actor=Actor(entry="cli"))
        )
        assert approved.state == "active"
        assert harness.fingerprints()[old] == ("active", NOW + 3600 + WEEK)  # the overlap runs from the approval
    finally:
        harness.close()


def tampered(harness: Harness) -> dict[str, dict[str, str]]:
    good = harness.form()
    ckm = harness.ckm
    return {
        "payloads differ": {**good, "new_key_assertion": resign(ckm, good["new_key_assertion"], "new_cert", sub="x")},
        "new key did not sign": {**good, "new_key_assertion": resign(ckm, good["new_key_assertion"], "stranger")},
        "old key did not sign": {**good, "assertion": resign(ckm, good["assertion"], "stranger")},
        "new signed twice": {**good, "assertion": good["new_key_assertion"]},
        "old signed twice": {**good, "new_key_assertion": good["assertion"]},
        "signature altered": {**good, "assertion": good["assertion"][:-4] + "AAAA"},
    }


@pytest.mark.parametrize(
    ("case", "refusal"),
    [
        ("payloads differ", InvalidClaim),
        ("new key did not sign", InvalidSignature),
        ("old key did not sign", InvalidSignature),
        ("new signed twice", InvalidSignature),
        ("old signed twice", InvalidSignature),
        ("signature altered", InvalidSignature),
    ],
)
def test_a_tampered_rotation_is_refused_and_changes_nothing(
    harness: Harness, case: str, refusal: type[ForcegateError]
) -> None:
    before = harness.snapshot()
    with pytest.raises(refusal):
        harness.rotate(tampered(harness)[case])
    assert harness.snapshot() == before
    assert harness.audit()[-1][0] == "denied"


def test_a_replayed_rotation_is_refused(harness: Harness) -> None:
    form = harness.form()
    harness.rotate(form)
    harness.clock.advance(1)
    with pytest.raises(ForcegateError):  # the signer is retiring now, and the request was seen
        harness.rotate(form)


def test_a_request_seen_before_is_refused_by_the_replay_cache(tmp_path: Path, keys: Any) -> None:
    harness = Harness(tmp_path, keys, rotation_approval=True)
    try:
        form = harness.form()
        held = harness.rotate(form)
        harness.run(
            harness.registry.enrollments.reject(
                held.enrollment.enrollment_id, EnrollmentRejectionInput(reason="not now"), actor=Actor(entry="cli")
            )
        )
        before = harness.snapshot()
        with pytest.raises(AssertionReplayed):  # every other check passes: only single use refuses it
            harness.rotate(form)
        assert harness.snapshot() == before
    finally:
        harness.close()


def test_a_retiring_certificate_cannot_vouch_for_another(harness: Harness, keys: Any) -> None:
    harness.rotate(harness.form())
    third = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    harness.ckm.add("third", private_key=third, certificate=cert(third, cn="third"))
    with pytest.raises(InvalidSignature):  # only the certificates no rotation replaced are tried
        harness.rotate(harness.form(current="old_cert", new="third"))
    # The new certificate, trusted and not replaced, may.
    assert harness.rotate(harness.form(current="new_cert", new="third")).enrollment.state == "active"


def test_refusals_of_the_claims(harness: Harness) -> None:
    cases: list[tuple[dict[str, str], type[ForcegateError]]] = [
        (harness.form(service_url="https://elsewhere.example"), InvalidAudience),
        (harness.form(org_id=OTHER_ORG), UnknownIssuer),
        (harness.form(org_id="not-an-org"), InvalidClaim),
    ]
    for form, refusal in cases:
        before = harness.snapshot()
        with pytest.raises(refusal):
            harness.rotate(form)
        assert harness.snapshot() == before


def test_a_disabled_org_cannot_rotate(harness: Harness) -> None:
    harness.run(harness.registry.update_org(ORG, OrgChanges(enabled=False)))
    with pytest.raises(OrgDisabled):
        harness.rotate(harness.form())


def test_the_new_certificate_passes_the_registry_policy(harness: Harness, weak_rsa_key: rsa.RSAPrivateKey) -> None:
    expired_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expired = self_signed(expired_key, cn="old", days=1, start=dt.datetime.fromtimestamp(NOW - 5 * 86400, dt.UTC))
    harness.ckm.add("expired", private_key=expired_key, certificate=expired)
    with pytest.raises(CertificateExpired):
        harness.rotate(harness.form(new="expired"))
    # A weak key cannot be in the emulated Certificate and Key Management: swap the claim by hand.
    form = harness.form()
    weak = base64.b64encode(cert(weak_rsa_key).public_bytes(Encoding.DER)).decode()
    payload = {"forcegate_new_certificate": weak}
    forged = {
        "assertion": resign(harness.ckm, form["assertion"], "old_cert", **payload),
        "new_key_assertion": resign(harness.ckm, form["assertion"], "new_cert", **payload),
    }
    with pytest.raises(WeakKeyError):
        harness.rotate(forged)


def test_a_certificate_another_org_holds_is_refused(harness: Harness) -> None:
    harness.run(harness.registry.add_org(OrgInput(org_id=OTHER_ORG)))
    harness.run(
        harness.registry.add_certificates(OTHER_ORG, [("theirs", harness.ckm.certificate("new_cert"))], actor=ORG_SIDE)
    )
    before = harness.snapshot()
    with pytest.raises(CertificateShared):
        harness.rotate(harness.form())
    assert harness.snapshot() == before


def test_a_certificate_the_org_already_trusts_is_refused(harness: Harness) -> None:
    harness.run(harness.registry.add_certificates(ORG, [("n", harness.ckm.certificate("new_cert"))], actor=ORG_SIDE))
    with pytest.raises(AlreadyExists):
        harness.rotate(harness.form())


def test_a_claim_that_is_not_a_certificate_is_refused(harness: Harness) -> None:
    form = harness.form()
    for value in ("", "not base64!", base64.b64encode(b"not DER").decode(), 42):
        forged = {
            "assertion": resign(harness.ckm, form["assertion"], "old_cert", forcegate_new_certificate=value),
            "new_key_assertion": resign(harness.ckm, form["assertion"], "new_cert", forcegate_new_certificate=value),
        }
        with pytest.raises(InvalidClaim):
            harness.rotate(forged)


def test_the_org_may_end_only_a_running_overlap(harness: Harness) -> None:
    old = fingerprint(harness.ckm.certificate("old_cert"))
    new = fingerprint(harness.ckm.certificate("new_cert"))
    actor = Actor(entry="/api/v1/certificates/{fingerprint}/retire", credential="org")
    with pytest.raises(EnrollmentStateConflict):
        harness.run(harness.registry.end_overlap(ORG, old, actor=actor))  # not replaced yet
    harness.rotate(harness.form())
    with pytest.raises(EnrollmentStateConflict):
        harness.run(harness.registry.end_overlap(ORG, new, actor=actor))  # the successor: never
    retired = harness.run(harness.registry.end_overlap(ORG, old, actor=actor))
    assert retired.state == "retired"
    assert harness.fingerprints() == {old: ("retired", None), new: ("active", None)}
    assert ("allowed", "certificate_retired") in harness.audit()
