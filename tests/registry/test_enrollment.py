"""Subscriber enrollment in the registry service: start, proof of possession, the approval policy,
the ISV's decisions, the approval list; every step audited, a refused step changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.errors import (
    AlreadyExists,
    CertificateExpired,
    CertificateShared,
    EnrollmentCodeInvalid,
    EnrollmentStateConflict,
    InvalidAudience,
    InvalidSalesforceId,
    InvalidSignature,
    NotFound,
    TokenExpired,
    UnknownIssuer,
    WeakKeyError,
)
from forcegate.registry import Actor, EnrollmentRejectionInput, OrgInput, RegistryService
from forcegate.registry.enrollment import PROOF_PATH, StartedEnrollment
from forcegate.settings import Settings
from forcegate.stores import Stores, open_stores
from helpers import make_jws, self_signed

ORG = "00D5g000004ABCDEA4"
OTHER_ORG = "00D5g000004XYZWEA4"
USER = "0055g00000AbCdEAAZ"
NOW = 1_800_000_000.0
PUBLIC_URL = "https://auth.example.com"
ADMIN = Actor(entry="cli", credential="local")
ORG_SIDE = Actor(entry=PROOF_PATH, credential="enrollment", client="192.0.2.9")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


class Harness:
    def __init__(self, loop: asyncio.AbstractEventLoop, stores: Stores, clock: FixedClock, policy: str) -> None:
        self.loop, self.stores, self.clock = loop, stores, clock
        settings = Settings(public_url=PUBLIC_URL, enrollment_policy=policy, data_dir=Path("unused"))
        self.registry = RegistryService(stores, settings=settings, clock=clock)

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def start(
        self, key: rsa.RSAPrivateKey, *, org_id: str = ORG, cert: x509.Certificate | None = None
    ) -> StartedEnrollment:
        started: StartedEnrollment = self.run(
            self.registry.enrollments.start(
                org_id=org_id, user_id=USER, username="admin@acme.example", certificate=cert or certificate(key),
                actor=Actor(entry="/enroll/certificate", credential="salesforce-sign-in"),
            )
        )  # fmt: skip
        return started

    def proof(self, key: rsa.RSAPrivateKey, code: str, **overrides: Any) -> str:
        claims = {
            "iss": ORG,
            "sub": "admin@acme.example",
            "aud": PUBLIC_URL + PROOF_PATH,
            "iat": int(self.clock.now()),
            "exp": int(self.clock.now()) + 120,
            "jti": f"j-{self.clock.now()}",
            "enrollment_code": code,
        }
        claims.update(overrides)
        return make_jws({k: v for k, v in claims.items() if v is not None}, key)

    def prove(self, assertion: str) -> Any:
        return self.run(self.registry.enrollments.prove(assertion, actor=ORG_SIDE))

    def audit_codes(self) -> list[str]:
        return [event.code for event in reversed(self.run(self.stores.audit.query()))]

    def certificates(self, org_id: str = ORG) -> list[str]:
        return [c.sha256_fingerprint for c in self.run(self.stores.trust.list_certificates(org_id))]


def certificate(key: rsa.RSAPrivateKey, *, days: int = 365, start: dt.datetime | None = None) -> x509.Certificate:
    return self_signed(key, cn="acme", days=days, start=start or dt.datetime.fromtimestamp(NOW - 86400, dt.UTC))


@pytest.fixture(params=["manual"])
def harness(
    request: pytest.FixtureRequest, tmp_path: Path, loop: asyncio.AbstractEventLoop, clock: FixedClock
) -> Iterator[Harness]:
    stores = loop.run_until_complete(open_stores(Settings(data_dir=tmp_path / "data")))
    yield Harness(loop, stores, clock, request.param)
    loop.run_until_complete(stores.close())


def harness_with(policy: str, tmp_path: Path, loop: asyncio.AbstractEventLoop, clock: FixedClock) -> Harness:
    stores = loop.run_until_complete(open_stores(Settings(data_dir=tmp_path / policy)))
    return Harness(loop, stores, clock, policy)


def test_start_stores_a_pending_enrollment_and_only_the_codes_digest(
    harness: Harness, rsa_key: rsa.RSAPrivateKey
) -> None:
    started = harness.start(rsa_key)
    e = started.enrollment
    assert (e.state, e.org_id, e.user_id, e.username) == ("pending_proof", ORG, USER, "admin@acme.example")
    assert started.code.startswith(e.enrollment_id + ".")
    assert len(started.code) > 60
    assert started.code not in repr(started)
    assert started.code not in e.code_digest
    assert e.code_expires_at == NOW + 24 * 3600
    assert harness.run(harness.stores.trust.get_org(ORG)) is None  # nothing is trusted yet
    assert harness.audit_codes() == ["enrollment_started"]


def _expired() -> x509.Certificate:
    return certificate(rsa.generate_private_key(65537, 2048), days=10, start=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: certificate(rsa.generate_private_key(65537, 1024)), WeakKeyError),  # noqa: S505 - refused on purpose
        (_expired, CertificateExpired),
    ],
)
def test_the_certificate_policy_applies(harness: Harness, make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        harness.run(
            harness.registry.enrollments.start(org_id=ORG, user_id=USER, username="u", certificate=make(), actor=ADMIN)
        )
    assert harness.run(harness.stores.enrollments.list_enrollments()) == []
    assert harness.audit_codes() == [error.code]  # type: ignore[attr-defined]


def test_a_certificate_trusted_for_another_org_is_refused(
    harness: Harness, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    theirs, ours = certificate(rsa_key), certificate(other_rsa_key, days=400)
    harness.run(harness.registry.add_org(OrgInput(org_id=OTHER_ORG)))
    harness.run(harness.registry.add_certificates(OTHER_ORG, [("theirs", theirs)]))
    with pytest.raises(CertificateShared):
        harness.start(rsa_key, cert=theirs)
    # Another certificate of the same key is the same signer: refused too.
    with pytest.raises(CertificateShared, match="another certificate of its key"):
        harness.start(rsa_key, cert=certificate(rsa_key, days=500))
    harness.run(harness.registry.add_org(OrgInput(org_id=ORG)))
    harness.run(harness.registry.add_certificates(ORG, [("ours", ours)]))
    with pytest.raises(AlreadyExists):
        harness.start(other_rsa_key, cert=ours)
    assert harness.run(harness.stores.enrollments.list_enrollments()) == []


def test_manual_policy_waits_for_the_isv(harness: Harness, rsa_key: rsa.RSAPrivateKey) -> None:
    started = harness.start(rsa_key)
    proven = harness.prove(harness.proof(rsa_key, started.code))
    assert proven.state == "pending_approval"
    assert proven.proven_at == NOW
    assert harness.certificates() == []
    active = harness.run(harness.registry.enrollments.approve(proven.enrollment_id, actor=ADMIN))
    assert active.state == "active"
    assert active.decided_by == "cli (local)"
    assert harness.certificates() == [started.enrollment.sha256_fingerprint]
    assert harness.audit_codes() == ["enrollment_started", "enrollment_proven", "enrollment_activated"]
    with pytest.raises(EnrollmentStateConflict):
        harness.run(harness.registry.enrollments.approve(proven.enrollment_id, actor=ADMIN))


def test_approval_before_the_proof(harness: Harness, rsa_key: rsa.RSAPrivateKey) -> None:
    started = harness.start(rsa_key)
    approved = harness.run(harness.registry.enrollments.approve(started.enrollment.enrollment_id, actor=ADMIN))
    assert approved.state == "approved"
    assert harness.certificates() == []
    assert harness.prove(harness.proof(rsa_key, started.code)).state == "active"
    assert harness.certificates() == [started.enrollment.sha256_fingerprint]


def test_auto_policy_activates_on_proof(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, clock: FixedClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    harness = harness_with("auto", tmp_path, loop, clock)
    started = harness.start(rsa_key)
    active = harness.prove(harness.proof(rsa_key, started.code))
    assert (active.state, active.decided_by) == ("active", "policy:auto")
    org = harness.run(harness.stores.trust.get_org(ORG))
    assert org is not None
    assert org.enabled
    assert org.algorithms == ("RS256",)  # the defaults of `forcegate orgs add`
    loop.run_until_complete(harness.stores.close())


def test_listed_policy_activates_listed_orgs_only(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, clock: FixedClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    harness = harness_with("listed", tmp_path, loop, clock)
    other_key = rsa.generate_private_key(65537, 2048)
    unlisted = harness.start(other_key, org_id=OTHER_ORG)
    assert harness.prove(harness.proof(other_key, unlisted.code, iss=OTHER_ORG)).state == "pending_approval"
    assert harness.run(harness.registry.enrollments.import_orgs([ORG[:15]], source="lma.csv", actor=ADMIN)) == 1
    assert harness.run(harness.stores.trust.get_org(ORG)) is None  # listed is not trusted
    listed = harness.start(rsa_key)
    active = harness.prove(harness.proof(rsa_key, listed.code))
    assert (active.state, active.decided_by) == ("active", "policy:listed")
    loop.run_until_complete(harness.stores.close())


def refused_proofs(harness: Harness, key: rsa.RSAPrivateKey, code: str) -> dict[str, tuple[str, type[Exception]]]:
    other = rsa.generate_private_key(65537, 2048)
    enrollment_id = code.split(".")[0]
    return {
        "signed with another key": (harness.proof(other, code), InvalidSignature),
        "another org's issuer": (harness.proof(key, code, iss=OTHER_ORG), UnknownIssuer),
        "the token endpoint's audience": (harness.proof(key, code, aud=PUBLIC_URL + "/oauth2/token"), InvalidAudience),
        "expired assertion": (harness.proof(key, code, iat=int(NOW) - 900, exp=int(NOW) - 600), TokenExpired),
        "wrong code": (harness.proof(key, enrollment_id + ".wrong"), EnrollmentCodeInvalid),
        "unknown enrollment": (harness.proof(key, "enr_" + "a" * 20 + ".x"), EnrollmentCodeInvalid),
        "no code": (harness.proof(key, code, enrollment_code=None), EnrollmentCodeInvalid),
        "code not a string": (harness.proof(key, code, enrollment_code=7), EnrollmentCodeInvalid),
        "not a JWT": ("junk", Exception),
    }


def test_refused_proofs_change_nothing(harness: Harness, rsa_key: rsa.RSAPrivateKey) -> None:
    started = harness.start(rsa_key)
    before = harness.run(harness.stores.trust.generation())
    for name, (assertion, error) in refused_proofs(harness, rsa_key, started.code).items():
        with pytest.raises(error):
            harness.prove(assertion)
        assert harness.run(harness.stores.enrollments.get_enrollment(started.enrollment.enrollment_id)) == (
            started.enrollment
        ), name
    assert harness.run(harness.stores.trust.generation()) == before
    denied = [e for e in harness.run(harness.stores.audit.query()) if e.result == "denied"]
    assert len(denied) == len(refused_proofs(harness, rsa_key, started.code))
    assert all(started.code not in e.detail for e in harness.run(harness.stores.audit.query()))


def test_the_code_is_single_use_and_expires(harness: Harness, rsa_key: rsa.RSAPrivateKey) -> None:
    started = harness.start(rsa_key)
    assertion = harness.proof(rsa_key, started.code)
    harness.prove(assertion)
    with pytest.raises(EnrollmentCodeInvalid, match="used"):
        harness.prove(assertion)  # a replay
    with pytest.raises(EnrollmentCodeInvalid, match="used"):
        harness.prove(harness.proof(rsa_key, started.code, jti="fresh"))
    later_key = rsa.generate_private_key(65537, 2048)
    later = harness.start(later_key)
    harness.clock.advance(24 * 3600 + 1)
    with pytest.raises(EnrollmentCodeInvalid, match="expired"):
        harness.prove(harness.proof(later_key, later.code))
    assert harness.run(harness.registry.enrollments.get(later.enrollment.enrollment_id)).state == "expired"


def test_rejection(harness: Harness, rsa_key: rsa.RSAPrivateKey) -> None:
    started = harness.start(rsa_key)
    rejected = harness.run(
        harness.registry.enrollments.reject(
            started.enrollment.enrollment_id, EnrollmentRejectionInput(reason="not a customer"), actor=ADMIN
        )
    )
    assert (rejected.state, rejected.reason) == ("rejected", "not a customer")
    with pytest.raises(EnrollmentCodeInvalid):
        harness.prove(harness.proof(rsa_key, started.code))
    with pytest.raises(EnrollmentStateConflict):
        harness.run(
            harness.registry.enrollments.reject(
                started.enrollment.enrollment_id, EnrollmentRejectionInput(), actor=ADMIN
            )
        )
    with pytest.raises(NotFound):
        harness.run(harness.registry.enrollments.approve("enr_nope", actor=ADMIN))
    assert harness.certificates() == []


def test_activation_rechecks_sharing(harness: Harness, rsa_key: rsa.RSAPrivateKey) -> None:
    started = harness.start(rsa_key)
    harness.prove(harness.proof(rsa_key, started.code))
    # Meanwhile the ISV trusted the same certificate for another org by hand.
    harness.run(harness.registry.add_org(OrgInput(org_id=OTHER_ORG)))
    harness.run(harness.registry.add_certificates(OTHER_ORG, [("x", started.enrollment.certificate())]))
    with pytest.raises(CertificateShared):
        harness.run(harness.registry.enrollments.approve(started.enrollment.enrollment_id, actor=ADMIN))
    assert harness.run(harness.stores.trust.get_org(ORG)) is None
    assert harness.run(harness.registry.enrollments.get(started.enrollment.enrollment_id)).state == "pending_approval"


def test_import_canonicalises_and_refuses_bad_ids(harness: Harness) -> None:
    with pytest.raises(InvalidSalesforceId):
        harness.run(harness.registry.enrollments.import_orgs([ORG, "00Dnot"], actor=ADMIN))
    assert harness.run(harness.registry.enrollments.approved_orgs()) == []
    assert harness.run(harness.registry.enrollments.import_orgs([ORG[:15], ORG], actor=ADMIN)) == 1
    assert harness.run(harness.registry.enrollments.approved_orgs()) == [ORG]
