"""Rotation in the stores: a rotation's activation trusts the new certificate and schedules the
signing one's retirement in ONE transaction; the chain is checked there (one successor per
certificate, never a retired one); due retirements are carried out; a hand-made state change ends an
overlap. Runs on every backend (the contract suite's ``stores`` fixture)."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography import x509

from forcegate.errors import ConfigurationError, EnrollmentStateConflict
from forcegate.stores import Enrollment, Org, Stores
from forcegate.stores.models import CertificateRecord
from stores.stores_support import ORG, certificate, run
from stores.test_store_enrollments import enrollment

OLD = certificate("old")
NEW = certificate("new")


def trusted_old(stores: Stores) -> CertificateRecord:
    run(stores.trust.add_org(Org(org_id=ORG)))
    (record,) = run(stores.trust.add_certificates(ORG, [(OLD, "old")]))
    return record


def rotation(old: CertificateRecord, cert: x509.Certificate = NEW, *, created_at: float = 1000.0) -> Enrollment:
    return dataclasses.replace(
        enrollment(cert, state="pending_approval", created_at=created_at),
        replaces_fingerprint=old.sha256_fingerprint,
    )


def rotate(
    stores: Stores, old: CertificateRecord, cert: x509.Certificate = NEW
) -> tuple[Enrollment, CertificateRecord]:
    """A rotation from ``old`` to ``cert``, activated as it is added, ``old`` retiring at 5000."""
    return run(
        stores.enrollments.add_active_enrollment(
            rotation(old, cert), org=Org(org_id=ORG), label="r", decided_by="policy:rotation", retire_previous_at=5000.0
        )
    )


def by_fingerprint(stores: Stores) -> dict[str, CertificateRecord]:
    return {c.sha256_fingerprint: c for c in run(stores.trust.list_certificates(ORG))}


def test_add_active_enrollment_trusts_the_new_and_schedules_the_old(stores: Stores) -> None:
    old = trusted_old(stores)
    before = run(stores.trust.generation())
    active, record = run(
        stores.enrollments.add_active_enrollment(
            rotation(old),
            org=Org(org_id=ORG), label="rotated", decided_by="policy:rotation", retire_previous_at=5000.0,
        )
    )  # fmt: skip
    assert active.state == "active"
    assert active.replaces_fingerprint == old.sha256_fingerprint
    assert active.decided_by == "policy:rotation"
    assert active.proven_at == 1000.0
    certificates = by_fingerprint(stores)
    assert certificates[record.sha256_fingerprint].state == "active"
    assert certificates[record.sha256_fingerprint].retire_at is None
    assert certificates[old.sha256_fingerprint].retire_at == 5000.0
    assert certificates[old.sha256_fingerprint].trusted_at(4999.0)
    assert not certificates[old.sha256_fingerprint].trusted_at(5000.0)
    assert run(stores.trust.generation()) > before
    got = run(stores.enrollments.get_enrollment(active.enrollment_id))
    assert got is not None
    assert got.replaces_fingerprint == old.sha256_fingerprint


def test_one_successor_per_certificate_and_nothing_written_when_refused(stores: Stores) -> None:
    old = trusted_old(stores)
    rotate(stores, old)
    before = (run(stores.trust.generation()), by_fingerprint(stores), run(stores.enrollments.enrollment_counts()))
    with pytest.raises(EnrollmentStateConflict, match="no longer trusted"):
        rotate(stores, old, certificate("third"))
    after = (run(stores.trust.generation()), by_fingerprint(stores), run(stores.enrollments.enrollment_counts()))
    assert after == before  # no enrollment row, no certificate, no retire_at change


def test_a_retired_signer_cannot_be_rotated_from(stores: Stores) -> None:
    old = trusted_old(stores)
    run(stores.trust.set_certificate_state(ORG, old.sha256_fingerprint, "retired"))
    with pytest.raises(EnrollmentStateConflict):
        rotate(stores, old)
    assert len(by_fingerprint(stores)) == 1


def test_a_held_rotation_activates_through_activate_enrollment(stores: Stores) -> None:
    old = trusted_old(stores)
    held = run(stores.enrollments.add_enrollment(rotation(old)))
    with pytest.raises(ConfigurationError, match="retires"):
        run(
            stores.enrollments.activate_enrollment(
                held.enrollment_id, expected=("pending_approval",), org=Org(org_id=ORG), label="r", now=2000.0
            )
        )
    activated, _ = run(
        stores.enrollments.activate_enrollment(
            held.enrollment_id, expected=("pending_approval",), org=Org(org_id=ORG), label="r", now=2000.0,
            decided_by="cli", retire_previous_at=9000.0,
        )
    )  # fmt: skip
    assert activated.state == "active"
    assert by_fingerprint(stores)[old.sha256_fingerprint].retire_at == 9000.0


def test_add_active_enrollment_takes_only_a_proven_enrollment(stores: Stores) -> None:
    old = trusted_old(stores)
    unproven = dataclasses.replace(rotation(old), state="pending_proof")
    with pytest.raises(ConfigurationError, match="proven"):
        run(
            stores.enrollments.add_active_enrollment(
                unproven, org=Org(org_id=ORG), label="r", decided_by="x", retire_previous_at=1.0
            )
        )


def test_due_retirements_are_carried_out_and_bump_only_when_due(stores: Stores) -> None:
    old = trusted_old(stores)
    rotate(stores, old)
    generation = run(stores.trust.generation())
    assert run(stores.trust.retire_due_certificates(4999.0)) == 0
    assert run(stores.trust.generation()) == generation  # nothing due: no cache drop on every worker
    assert run(stores.trust.retire_due_certificates(5000.0)) == 1
    assert by_fingerprint(stores)[old.sha256_fingerprint].state == "retired"
    assert run(stores.trust.generation()) > generation
    assert run(stores.trust.retire_due_certificates(9999.0)) == 0


def test_a_state_change_by_hand_ends_the_overlap(stores: Stores) -> None:
    old = trusted_old(stores)
    rotate(stores, old)
    changed = run(stores.trust.set_certificate_state(ORG, old.sha256_fingerprint, "active"))
    assert changed.retire_at is None
    assert by_fingerprint(stores)[old.sha256_fingerprint].retire_at is None


def test_a_certificate_in_its_overlap_is_not_expiring(stores: Stores) -> None:
    old = trusted_old(stores)
    far = old.not_after + 1
    assert [c.sha256_fingerprint for c in run(stores.trust.expiring_certificates(far))] == [old.sha256_fingerprint]
    rotate(stores, old)
    expiring = [c.sha256_fingerprint for c in run(stores.trust.expiring_certificates(far))]
    assert old.sha256_fingerprint not in expiring  # its successor is what needs watching now
