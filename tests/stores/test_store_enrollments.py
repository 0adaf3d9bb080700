"""EnrollmentStore contract: enrollments, their compare-and-set states, activation in one transaction,
the approval list; every write bumps the registry generation, a refused write changes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.errors import (
    AlreadyExists,
    CertificateShared,
    ConfigurationError,
    EnrollmentStateConflict,
    InvalidSalesforceId,
    NotFound,
)
from forcegate.stores import Enrollment, Org, Stores
from forcegate.stores.models import SignIn
from helpers import self_signed
from stores.stores_support import ORG, ORG_15, OTHER_ORG, certificate, run

CERT = certificate("enrolled")


def enrollment(
    cert: x509.Certificate = CERT,
    *,
    org_id: str = ORG,
    state: str = "pending_proof",
    expires_in: float = 3600,
    created_at: float | None = None,
) -> Enrollment:
    der = cert.public_bytes(Encoding.DER)
    now = time.time() if created_at is None else created_at
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return Enrollment(
        enrollment_id="enr_" + "".join(secrets.choice(alphabet) for _ in range(20)),
        org_id=org_id,
        user_id="005x0000001AbCdAAK",
        username="admin@example.com",
        certificate_der=der,
        sha256_fingerprint=hashlib.sha256(der).hexdigest(),
        state=state,  # type: ignore[arg-type]
        code_digest=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        code_expires_at=now + expires_in,
        created_at=now,
        updated_at=now,
    )


def test_add_get_and_list(stores: Stores) -> None:
    first = run(stores.enrollments.add_enrollment(enrollment(org_id=ORG_15, created_at=100.0)))
    assert first.org_id == ORG  # canonical 18 characters
    second = run(stores.enrollments.add_enrollment(enrollment(certificate("b"), org_id=OTHER_ORG, created_at=200.0)))
    got = run(stores.enrollments.get_enrollment(first.enrollment_id))
    assert got == first
    assert got is not None
    assert got.certificate() == CERT
    assert run(stores.enrollments.get_enrollment("enr_" + "a" * 20)) is None
    assert [e.enrollment_id for e in run(stores.enrollments.list_enrollments())] == [
        second.enrollment_id,
        first.enrollment_id,
    ]
    assert [e.org_id for e in run(stores.enrollments.list_enrollments(org_id=ORG_15))] == [ORG]
    assert run(stores.enrollments.list_enrollments(states=["active"])) == []
    assert len(run(stores.enrollments.list_enrollments(states=["pending_proof", "active"]))) == 2
    assert run(stores.enrollments.enrollment_counts()) == {"pending_proof": 2}


def test_the_same_id_twice_is_refused(stores: Stores) -> None:
    first = run(stores.enrollments.add_enrollment(enrollment()))
    again = dataclasses.replace(enrollment(certificate("x")), enrollment_id=first.enrollment_id)
    with pytest.raises(AlreadyExists):
        run(stores.enrollments.add_enrollment(again))


def test_a_new_enrollment_of_the_same_certificate_replaces_the_open_one(stores: Stores) -> None:
    old = run(stores.enrollments.add_enrollment(enrollment(created_at=100.0)))
    new = run(stores.enrollments.add_enrollment(enrollment(created_at=200.0)))
    replaced = run(stores.enrollments.get_enrollment(old.enrollment_id))
    assert replaced is not None
    assert replaced.state == "expired"
    assert "replaced" in replaced.reason
    assert run(stores.enrollments.get_enrollment(new.enrollment_id)) == new


@pytest.mark.parametrize(
    "bad",
    [
        {"enrollment_id": "nope"},
        {"org_id": "00Dnotanorg"},
        {"state": "done"},
        {"code_digest": "short"},
        {"sha256_fingerprint": "0" * 64},
        {"username": ""},
    ],
)
def test_invalid_enrollments_are_refused(stores: Stores, bad: dict[str, object]) -> None:
    with pytest.raises((ConfigurationError, InvalidSalesforceId)):
        run(stores.enrollments.add_enrollment(dataclasses.replace(enrollment(), **bad)))  # type: ignore[arg-type]
    assert run(stores.enrollments.list_enrollments()) == []


def test_state_changes_are_compare_and_set(stores: Stores) -> None:
    e = run(stores.enrollments.add_enrollment(enrollment()))
    proven = run(
        stores.enrollments.set_enrollment_state(
            e.enrollment_id, expected=["pending_proof"], state="pending_approval", now=500.0, proven=True
        )
    )
    assert proven.state == "pending_approval"
    assert proven.proven_at == 500.0
    assert proven.updated_at == 500.0
    before = run(stores.trust.generation())
    with pytest.raises(EnrollmentStateConflict, match="pending_approval"):
        run(stores.enrollments.set_enrollment_state(e.enrollment_id, expected=["pending_proof"], state="active", now=1))
    assert run(stores.trust.generation()) == before
    rejected = run(
        stores.enrollments.set_enrollment_state(
            e.enrollment_id, expected=["pending_approval"], state="rejected", now=600.0, decided_by="cli", reason="no"
        )
    )
    assert (rejected.state, rejected.decided_by, rejected.reason, rejected.proven_at) == (
        "rejected",
        "cli",
        "no",
        500.0,
    )
    with pytest.raises(NotFound):
        run(
            stores.enrollments.set_enrollment_state(
                "enr_" + "a" * 20, expected=["pending_proof"], state="active", now=1
            )
        )


def test_activation_registers_the_org_and_trusts_the_certificate_at_once(stores: Stores) -> None:
    e = run(stores.enrollments.add_enrollment(enrollment()))
    done, record = run(
        stores.enrollments.activate_enrollment(
            e.enrollment_id, expected=["pending_proof"], org=Org(org_id=ORG, name="Acme"), label="enrolled",
            now=700.0, decided_by="policy:auto", proven=True,
        )
    )  # fmt: skip
    assert (done.state, done.decided_by, done.proven_at) == ("active", "policy:auto", 700.0)
    assert record.org_id == ORG
    assert record.state == "active"
    assert record.sha256_fingerprint == e.sha256_fingerprint
    org = run(stores.trust.get_org(ORG))
    assert org is not None
    assert org.name == "Acme"
    assert [c.sha256_fingerprint for c in run(stores.trust.list_certificates(ORG))] == [e.sha256_fingerprint]


def test_activation_keeps_an_org_that_is_registered(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG, name="Registered", scopes=("api",))))
    e = run(stores.enrollments.add_enrollment(enrollment()))
    run(
        stores.enrollments.activate_enrollment(
            e.enrollment_id, expected=["pending_proof"], org=Org(org_id=ORG), label="", now=1
        )
    )
    org = run(stores.trust.get_org(ORG))
    assert org is not None
    assert (org.name, org.scopes) == ("Registered", ("api",))


def test_a_refused_activation_changes_nothing(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=OTHER_ORG)))
    run(stores.trust.add_certificate(OTHER_ORG, CERT))
    e = run(stores.enrollments.add_enrollment(enrollment()))
    before = run(stores.trust.generation())
    with pytest.raises(CertificateShared):
        run(
            stores.enrollments.activate_enrollment(
                e.enrollment_id, expected=["pending_proof"], org=Org(org_id=ORG), label="", now=1
            )
        )
    with pytest.raises(EnrollmentStateConflict):
        run(
            stores.enrollments.activate_enrollment(
                e.enrollment_id, expected=["approved"], org=Org(org_id=ORG), label="", now=1
            )
        )
    assert run(stores.trust.get_org(ORG)) is None  # the org was not registered either
    assert run(stores.enrollments.get_enrollment(e.enrollment_id)) == e
    assert run(stores.trust.generation()) == before


def test_the_same_certificate_for_the_same_org_is_refused(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_certificate(ORG, CERT))
    e = run(stores.enrollments.add_enrollment(enrollment()))
    with pytest.raises(AlreadyExists):
        run(
            stores.enrollments.activate_enrollment(
                e.enrollment_id, expected=["pending_proof"], org=Org(org_id=ORG), label="", now=1
            )
        )
    assert run(stores.enrollments.get_enrollment(e.enrollment_id)) == e


def test_lapsed_codes_expire(stores: Stores) -> None:
    now = time.time()
    lapsed = run(stores.enrollments.add_enrollment(enrollment(expires_in=-1, created_at=now - 10)))
    live = run(stores.enrollments.add_enrollment(enrollment(certificate("live"))))
    proven = run(stores.enrollments.add_enrollment(enrollment(certificate("proven"), expires_in=-1)))
    run(
        stores.enrollments.set_enrollment_state(
            proven.enrollment_id, expected=["pending_proof"], state="pending_approval", now=now
        )
    )
    before = run(stores.trust.generation())
    assert run(stores.enrollments.expire_enrollments(now)) == 1
    assert run(stores.trust.generation()) > before
    assert run(stores.enrollments.expire_enrollments(now)) == 0
    states = {e.enrollment_id: e.state for e in run(stores.enrollments.list_enrollments())}
    assert states == {
        lapsed.enrollment_id: "expired",
        live.enrollment_id: "pending_proof",
        proven.enrollment_id: "pending_approval",
    }
    assert run(stores.enrollments.enrollment_counts()) == {"expired": 1, "pending_proof": 1, "pending_approval": 1}


def test_the_approval_list(stores: Stores) -> None:
    assert run(stores.enrollments.approve_orgs([ORG_15, OTHER_ORG, ORG], source="lma.csv")) == 2
    assert run(stores.enrollments.approve_orgs([ORG])) == 0
    assert run(stores.enrollments.is_org_approved(ORG_15))
    assert not run(stores.enrollments.is_org_approved("00D300000000001EAA"))
    assert run(stores.enrollments.approved_orgs()) == sorted([ORG, OTHER_ORG])
    assert run(stores.enrollments.approved_orgs(after=min(ORG, OTHER_ORG))) == [max(ORG, OTHER_ORG)]
    assert run(stores.trust.get_org(ORG)) is None  # an approval-list entry is not a registered org


def test_a_bad_id_refuses_the_whole_import(stores: Stores) -> None:
    with pytest.raises(InvalidSalesforceId):
        run(stores.enrollments.approve_orgs([ORG, "00Dbad"]))
    assert run(stores.enrollments.approved_orgs()) == []


Write = Callable[[Stores, str], Awaitable[object]]
WRITES: dict[str, Write] = {
    "add_enrollment": lambda s, _: s.enrollments.add_enrollment(enrollment(certificate("other"))),
    "set_enrollment_state": lambda s, eid: s.enrollments.set_enrollment_state(
        eid, expected=["pending_proof"], state="rejected", now=1
    ),
    "activate_enrollment": lambda s, eid: s.enrollments.activate_enrollment(
        eid, expected=["pending_proof"], org=Org(org_id=ORG), label="", now=1
    ),
    "expire_enrollments": lambda s, _: s.enrollments.expire_enrollments(time.time() + 7200),
    "approve_orgs": lambda s, _: s.enrollments.approve_orgs([OTHER_ORG]),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_write_bumps_the_generation(stores: Stores, write: str) -> None:
    e = run(stores.enrollments.add_enrollment(enrollment()))
    before = run(stores.trust.generation())
    run(WRITES[write](stores, e.enrollment_id))
    assert run(stores.trust.generation()) > before


def test_another_process_sees_the_change(open_stores: Callable[[], Stores]) -> None:
    one, other = open_stores(), open_stores()
    e = run(one.enrollments.add_enrollment(enrollment()))
    run(one.enrollments.set_enrollment_state(e.enrollment_id, expected=["pending_proof"], state="approved", now=1))
    seen = run(other.enrollments.get_enrollment(e.enrollment_id))
    assert seen is not None
    assert seen.state == "approved"


def test_expiring_certificates_soonest_first(stores: Stores) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    soon = self_signed(ec.generate_private_key(ec.SECP256R1()), cn="soon", start=start, days=10)
    later = self_signed(ec.generate_private_key(ec.SECP256R1()), cn="later", start=start, days=100)
    retired = self_signed(ec.generate_private_key(ec.SECP256R1()), cn="retired", start=start, days=5)
    disabled = self_signed(ec.generate_private_key(ec.SECP256R1()), cn="disabled", start=start, days=5)
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_org(Org(org_id=OTHER_ORG, enabled=False)))
    run(stores.trust.add_certificates(ORG, [(later, ""), (soon, ""), (retired, "")]))
    run(stores.trust.add_certificate(OTHER_ORG, disabled))
    fingerprint = hashlib.sha256(retired.public_bytes(Encoding.DER)).hexdigest()
    run(stores.trust.set_certificate_state(ORG, fingerprint, "retired"))
    horizon = time.time() + 30 * 86400
    assert [c.subject for c in run(stores.trust.expiring_certificates(horizon))] == ["CN=soon"]
    assert [c.subject for c in run(stores.trust.expiring_certificates(horizon + 100 * 86400))] == [
        "CN=soon",
        "CN=later",
    ]
    assert run(stores.trust.expiring_certificates(horizon + 100 * 86400, limit=1))[0].subject == "CN=soon"


# --- sign-ins ------------------------------------------------------------------------------------------


def sign_in(id_hash: str = "a" * 64, state_hash: str = "b" * 64, *, expires_at: float = 2_000.0) -> SignIn:
    return SignIn(
        id_hash=id_hash, state_hash=state_hash, login_url="https://login.salesforce.com", created_at=1_000.0,
        expires_at=expires_at,
    )  # fmt: skip


def test_a_sign_in_completes_once_with_its_state(stores: Stores) -> None:
    run(stores.enrollments.begin_sign_in(sign_in()))
    before = run(stores.trust.generation())
    pending = run(stores.enrollments.get_sign_in("a" * 64, now=1_500.0))
    assert pending == sign_in()
    assert not pending.completed

    def complete(state_hash: str, now: float = 1_500.0) -> bool:
        return run(
            stores.enrollments.complete_sign_in(
                "a" * 64, state_hash, org_id=ORG_15, user_id="005x0000001AbCdAAK", username="u@x", now=now,
                expires_at=3_000.0,
            )
        )  # fmt: skip

    assert not complete("c" * 64)  # another state
    assert complete("b" * 64)
    assert not complete("b" * 64)  # the state is single use
    done = run(stores.enrollments.get_sign_in("a" * 64, now=2_500.0))
    assert done is not None
    assert (done.completed, done.org_id, done.username, done.expires_at) == (True, ORG, "u@x", 3_000.0)
    assert run(stores.trust.generation()) == before  # not a registry write


def test_sign_ins_expire_end_and_purge(stores: Stores) -> None:
    run(stores.enrollments.begin_sign_in(sign_in()))
    run(stores.enrollments.begin_sign_in(sign_in("c" * 64, expires_at=5_000.0)))
    with pytest.raises(AlreadyExists):
        run(stores.enrollments.begin_sign_in(sign_in()))
    assert run(stores.enrollments.get_sign_in("a" * 64, now=2_000.0)) is None
    assert not run(
        stores.enrollments.complete_sign_in(
            "a" * 64, "b" * 64, org_id=ORG, user_id="u", username="u", now=2_001.0, expires_at=9_000.0
        )
    )
    assert run(stores.enrollments.purge_sign_ins(2_001.0)) == 1
    run(stores.enrollments.end_sign_in("c" * 64))
    assert run(stores.enrollments.get_sign_in("c" * 64, now=1_000.0)) is None
    with pytest.raises(ConfigurationError):
        run(stores.enrollments.begin_sign_in(sign_in("not-a-digest")))
