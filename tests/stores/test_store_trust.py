"""TrustStore contract: apps and secret rotation, orgs, certificates, the generation counter."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.core.trusted_key import x5t_s256
from forcegate.errors import (
    AlreadyExists,
    CertificateShared,
    ConfigurationError,
    InvalidSalesforceId,
    NotFound,
    RegistryError,
)
from forcegate.stores import UNSET, Org, OrgPolicy, Stores
from stores.stores_support import ORG, ORG_15, OTHER_ORG, THIRD_ORG, certificate, run


def secrets_of(stores: Stores, consumer_key: str = "ck") -> list[str]:
    return [s.secret for s in run(stores.trust.app_secrets(consumer_key))]


# --- generation --------------------------------------------------------------------------------------


def test_reads_do_not_bump_the_generation(stores: Stores) -> None:
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_certificate(ORG, certificate()))
    before = run(stores.trust.generation())
    run(stores.trust.get_app("ck"))
    run(stores.trust.list_apps())
    run(stores.trust.app_secrets("ck"))
    run(stores.trust.get_org(ORG))
    run(stores.trust.list_orgs())
    run(stores.trust.list_certificates(ORG))
    assert run(stores.trust.generation()) == before


Write = Callable[[Stores], Awaitable[object]]
CERT = certificate("generation")
WRITES: dict[str, Write] = {
    "add_app": lambda s: s.trust.add_app(consumer_key="ck2", name="Other", secret="x"),
    "delete_app": lambda s: s.trust.delete_app("ck"),
    "add_app_secret": lambda s: s.trust.add_app_secret("ck", "s2"),
    "retire_app_secret": lambda s: s.trust.retire_app_secret("ck", 1),
    "add_org": lambda s: s.trust.add_org(Org(org_id=OTHER_ORG)),
    "update_org": lambda s: s.trust.update_org(ORG, enabled=False),
    "delete_org": lambda s: s.trust.delete_org(ORG),
    "add_certificate": lambda s: s.trust.add_certificate(ORG, certificate("another")),
    "add_certificates": lambda s: s.trust.add_certificates(ORG, [(certificate("a"), ""), (certificate("b"), "")]),
    "set_certificate_state": lambda s: s.trust.set_certificate_state(
        ORG, hashlib.sha256(CERT.public_bytes(Encoding.DER)).hexdigest(), "retired"
    ),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_write_bumps_the_generation(stores: Stores, write: str) -> None:
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    run(stores.trust.add_app_secret("ck", "s1b"))  # so secret 1 is not the only active one
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_certificate(ORG, CERT))
    before = run(stores.trust.generation())
    run(WRITES[write](stores))
    assert run(stores.trust.generation()) > before


def test_a_failed_write_changes_nothing(stores: Stores) -> None:
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    before = run(stores.trust.generation())
    with pytest.raises(AlreadyExists):
        run(stores.trust.add_app(consumer_key="ck", name="Again", secret="s2"))
    with pytest.raises(NotFound):
        run(stores.trust.delete_org(ORG))
    assert run(stores.trust.generation()) == before
    assert secrets_of(stores) == ["s1"]


# --- apps --------------------------------------------------------------------------------------------


def test_app_round_trip(stores: Stores) -> None:
    app = run(stores.trust.add_app(consumer_key="ck-b", name="Billing", secret="s1", any_org=True))
    run(stores.trust.add_app(consumer_key="ck-a", name="Accounts", secret="s2"))
    assert app.consumer_key == "ck-b"
    assert app.any_org is True
    assert app.created_at > 0
    assert run(stores.trust.get_app("ck-b")) == app
    assert [a.consumer_key for a in run(stores.trust.list_apps())] == ["ck-a", "ck-b"]
    assert run(stores.trust.get_app("missing")) is None


def test_the_canvas_name_is_stored_changed_and_forgotten(stores: Stores) -> None:
    added = run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1", canvas_name="acme__Orders"))
    assert added.canvas_name == "acme__Orders"
    assert run(stores.trust.get_app("ck")) == added
    generation = run(stores.trust.generation())
    renamed = run(stores.trust.set_canvas_name("ck", "Orders"))
    assert renamed.canvas_name == "Orders"
    assert run(stores.trust.generation()) > generation  # caches reload: routing follows the new name
    assert run(stores.trust.set_canvas_name("ck", None)).canvas_name is None
    assert run(stores.trust.get_app("ck")) == dataclasses.replace(added, canvas_name=None)
    with pytest.raises(NotFound):
        run(stores.trust.set_canvas_name("missing", "X"))
    with pytest.raises(ConfigurationError, match="developer name"):
        run(stores.trust.set_canvas_name("ck", "no spaces allowed"))
    assert run(stores.trust.get_app("ck")).canvas_name is None  # type: ignore[union-attr]


def test_duplicate_app_is_already_exists(stores: Stores) -> None:
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    with pytest.raises(AlreadyExists, match="ck"):
        run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))


def test_delete_app_removes_its_secrets(stores: Stores) -> None:
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    run(stores.trust.delete_app("ck"))
    assert run(stores.trust.get_app("ck")) is None
    assert secrets_of(stores) == []
    with pytest.raises(NotFound, match="ck"):
        run(stores.trust.delete_app("ck"))
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="fresh"))
    assert secrets_of(stores) == ["fresh"]


@pytest.mark.parametrize(
    ("consumer_key", "secret"),
    [
        ("", "s"),
        ("has space", "s"),
        (" ck", "s"),
        ("ck", ""),
        ("x" * 256, "s"),
        ("nul\x00key", "s"),
        ("a/b", "s"),
        ("k?x=1", "s"),
    ],
)
def test_invalid_app_arguments_are_refused(stores: Stores, consumer_key: str, secret: str) -> None:
    with pytest.raises(ConfigurationError):
        run(stores.trust.add_app(consumer_key=consumer_key, name="App", secret=secret))
    assert run(stores.trust.list_apps()) == []


def test_secret_rotation_keeps_the_newest_previous_ones(stores: Stores) -> None:
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    s2 = run(stores.trust.add_app_secret("ck", "s2"))
    assert s2.secret == "s2"
    assert s2.active
    assert secrets_of(stores) == ["s2", "s1"]
    run(stores.trust.add_app_secret("ck", "s3"))
    assert secrets_of(stores) == ["s3", "s2"]
    run(stores.trust.add_app_secret("ck", "s4", keep_previous=0))
    assert secrets_of(stores) == ["s4"]
    # Retired secrets stay retired, however many older ones are allowed.
    run(stores.trust.add_app_secret("ck", "s5", keep_previous=5))
    assert secrets_of(stores) == ["s5", "s4"]
    ids = [s.id for s in run(stores.trust.app_secrets("ck"))]
    assert ids == sorted(ids, reverse=True)
    assert all(s.consumer_key == "ck" for s in run(stores.trust.app_secrets("ck")))


def test_secret_rotation_is_per_app(stores: Stores) -> None:
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="a1"))
    run(stores.trust.add_app(consumer_key="other", name="Other", secret="b1"))
    run(stores.trust.add_app_secret("ck", "a2", keep_previous=0))
    assert secrets_of(stores, "other") == ["b1"]
    assert secrets_of(stores, "ck") == ["a2"]


def test_add_app_secret_errors(stores: Stores) -> None:
    with pytest.raises(NotFound):
        run(stores.trust.add_app_secret("missing", "s"))
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    with pytest.raises(ConfigurationError, match="keep_previous"):
        run(stores.trust.add_app_secret("ck", "s2", keep_previous=-1))
    with pytest.raises(ConfigurationError):
        run(stores.trust.add_app_secret("ck", ""))
    assert secrets_of(stores) == ["s1"]


def test_retire_app_secret(stores: Stores) -> None:
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    run(stores.trust.add_app(consumer_key="other", name="Other", secret="o1"))
    (s1,) = run(stores.trust.app_secrets("ck"))
    with pytest.raises(RegistryError, match="only active secret"):
        run(stores.trust.retire_app_secret("ck", s1.id))
    s2 = run(stores.trust.add_app_secret("ck", "s2"))
    run(stores.trust.retire_app_secret("ck", s1.id))
    assert secrets_of(stores) == ["s2"]
    (o1,) = run(stores.trust.app_secrets("other"))
    with pytest.raises(NotFound):
        run(stores.trust.retire_app_secret("ck", o1.id))  # another app's secret
    with pytest.raises(NotFound):
        run(stores.trust.retire_app_secret("ck", s2.id + 100))
    assert secrets_of(stores, "other") == ["o1"]


# --- orgs --------------------------------------------------------------------------------------------


def test_org_round_trip_normalises_the_id(stores: Stores) -> None:
    org = Org(
        org_id=ORG_15,
        name="Acme",
        issuers=("3MVG9a", "3MVG9b"),
        subjects=("admin@acme.example",),
        scopes=("api", "web"),
        policy=OrgPolicy(max_assertion_lifetime=120, token_lifetime=900),
    )
    added = run(stores.trust.add_org(org))
    assert added.org_id == ORG
    assert added.created_at > 0
    assert added.updated_at == added.created_at
    assert run(stores.trust.get_org(ORG_15)) == added
    assert run(stores.trust.get_org(ORG.lower())) == added  # a case-folded 18-character id
    assert added.issuers == ("3MVG9a", "3MVG9b")
    assert added.subjects == ("admin@acme.example",)
    assert added.policy == OrgPolicy(max_assertion_lifetime=120, token_lifetime=900)


def test_org_defaults_round_trip(stores: Stores) -> None:
    added = run(stores.trust.add_org(Org(org_id=ORG)))
    got = run(stores.trust.get_org(ORG))
    assert got == added
    assert got is not None
    assert got.subjects is None  # any subject
    assert got.issuers == ()
    assert got.enabled


def test_long_lists_are_deduplicated_in_order(stores: Stores) -> None:
    """40,000 issuers fit in one admin request (256 KiB). Deduplication was once a list-membership
    test — quadratic: ~5 s of blocked event loop for 30,000; it is an order-keeping dict now. (No
    timing is asserted here: performance is measured in benchmarks, not in tests.)"""
    issuers = [f"{i:05x}" for i in range(40_000)]
    added = run(stores.trust.add_org(Org(org_id=ORG, issuers=(*issuers, issuers[0]), scopes=("b", "a", "b"))))
    assert added.issuers == tuple(issuers)  # the repeat dropped, the order kept
    assert added.scopes == ("b", "a")


def test_duplicate_org_in_either_form_is_already_exists(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    with pytest.raises(AlreadyExists, match=ORG):
        run(stores.trust.add_org(Org(org_id=ORG_15)))


@pytest.mark.parametrize("bad", ["005x0000001SyyE", "00Dx00000001hx", "00Dx00000001hxy!!!", "not an id"])
def test_invalid_org_ids_are_refused(stores: Stores, bad: str) -> None:
    with pytest.raises(InvalidSalesforceId):
        run(stores.trust.add_org(Org(org_id=bad)))
    with pytest.raises(InvalidSalesforceId):
        run(stores.trust.get_org(bad))
    with pytest.raises(InvalidSalesforceId):
        run(stores.trust.add_certificate(bad, certificate()))


@pytest.mark.parametrize(
    "org",
    [
        Org(org_id=ORG, issuers="3MVG9a"),  # type: ignore[arg-type]  # a str, not a list of str
        Org(org_id=ORG, scopes=("api web",)),
        Org(org_id=ORG, subjects=("",)),
        Org(org_id=ORG, policy=OrgPolicy(token_lifetime=0)),
        Org(org_id=ORG, policy=OrgPolicy(max_assertion_lifetime=2**63)),  # beyond a 64-bit column
        Org(org_id=ORG, policy=OrgPolicy(token_lifetime=365 * 24 * 3600 + 1)),
    ],
)
def test_invalid_org_fields_are_refused(stores: Stores, org: Org) -> None:
    with pytest.raises(ConfigurationError):
        run(stores.trust.add_org(org))
    assert run(stores.trust.get_org(ORG)) is None


def test_list_orgs_pages_in_id_order(stores: Stores) -> None:
    for org_id in (THIRD_ORG, OTHER_ORG, ORG):
        run(stores.trust.add_org(Org(org_id=org_id)))
    ordered = sorted([ORG, OTHER_ORG, THIRD_ORG])
    assert [o.org_id for o in run(stores.trust.list_orgs())] == ordered
    first = run(stores.trust.list_orgs(limit=2))
    assert [o.org_id for o in first] == ordered[:2]
    rest = run(stores.trust.list_orgs(limit=2, after=first[-1].org_id))
    assert [o.org_id for o in rest] == ordered[2:]


def test_update_org_changes_only_what_is_given(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG, name="Acme", issuers=("i1",), subjects=("u1",), scopes=("api",))))
    updated = run(stores.trust.update_org(ORG_15, name="Acme Corp", enabled=False))
    assert (updated.name, updated.enabled, updated.issuers, updated.subjects, updated.scopes) == (
        "Acme Corp",
        False,
        ("i1",),
        ("u1",),
        ("api",),
    )
    updated = run(
        stores.trust.update_org(
            ORG, issuers=["i2", "i3"], subjects=None, scopes=[], policy=OrgPolicy(token_lifetime=60), name=UNSET
        )
    )
    assert updated.issuers == ("i2", "i3")
    assert updated.subjects is None
    assert updated.scopes == ()
    assert updated.policy == OrgPolicy(token_lifetime=60)
    assert updated.name == "Acme Corp"
    assert updated.updated_at >= updated.created_at
    assert run(stores.trust.get_org(ORG)) == updated


def test_update_org_errors(stores: Stores) -> None:
    with pytest.raises(NotFound, match=ORG):
        run(stores.trust.update_org(ORG, name="x"))
    run(stores.trust.add_org(Org(org_id=ORG)))
    with pytest.raises(ConfigurationError):
        run(stores.trust.update_org(ORG, enabled="yes"))
    with pytest.raises(ConfigurationError):
        run(stores.trust.update_org(ORG, policy={"token_lifetime": 5}))
    assert run(stores.trust.get_org(ORG)) == run(stores.trust.get_org(ORG_15))


def test_delete_org_deletes_its_certificates(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_org(Org(org_id=OTHER_ORG)))
    cert = certificate()
    run(stores.trust.add_certificate(ORG, cert))
    run(stores.trust.add_certificate(OTHER_ORG, cert, shared=True))
    run(stores.trust.delete_org(ORG_15))
    assert run(stores.trust.get_org(ORG)) is None
    run(stores.trust.add_org(Org(org_id=ORG)))
    assert run(stores.trust.list_certificates(ORG)) == []
    assert len(run(stores.trust.list_certificates(OTHER_ORG))) == 1
    run(stores.trust.delete_org(ORG))
    with pytest.raises(NotFound):
        run(stores.trust.delete_org(ORG))


# --- certificates ------------------------------------------------------------------------------------


def test_certificate_record(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    cert = certificate("Acme Signing")
    der = cert.public_bytes(Encoding.DER)
    record = run(stores.trust.add_certificate(ORG_15, cert, label="2024 rotation"))
    assert record.org_id == ORG
    assert record.der == der
    assert record.sha256_fingerprint == hashlib.sha256(der).hexdigest()
    assert record.x5t_s256 == x5t_s256(cert)
    assert record.subject == "CN=Acme Signing"
    assert record.not_before == cert.not_valid_before_utc.timestamp()
    assert record.not_after == cert.not_valid_after_utc.timestamp()
    assert record.state == "active"
    assert record.label == "2024 rotation"
    assert record.certificate() == cert
    assert record.trusted_key().x5t_s256 == x5t_s256(cert)
    assert run(stores.trust.list_certificates(ORG)) == [record]


def test_certificate_errors(stores: Stores) -> None:
    cert = certificate()
    with pytest.raises(NotFound, match=ORG):
        run(stores.trust.add_certificate(ORG, cert))
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_org(Org(org_id=OTHER_ORG)))
    run(stores.trust.add_certificate(ORG, cert))
    with pytest.raises(AlreadyExists):
        run(stores.trust.add_certificate(ORG, cert, label="again"))
    run(stores.trust.add_certificate(OTHER_ORG, cert, shared=True))  # two orgs, when asked for explicitly
    with pytest.raises(ConfigurationError):
        run(stores.trust.add_certificate(ORG, b"not a certificate"))  # type: ignore[arg-type]
    assert len(run(stores.trust.list_certificates(ORG))) == 1


def test_list_certificates_newest_first_and_retired_filter(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    old = run(stores.trust.add_certificate(ORG, certificate("old")))
    new = run(stores.trust.add_certificate(ORG, certificate("new")))
    assert run(stores.trust.list_certificates(ORG)) == [new, old]
    retired = run(stores.trust.set_certificate_state(ORG, old.sha256_fingerprint, "retired"))
    assert retired.state == "retired"
    assert retired.id == old.id
    assert run(stores.trust.list_certificates(ORG, include_retired=False)) == [new]
    assert run(stores.trust.list_certificates(ORG)) == [new, retired]
    assert run(stores.trust.list_certificates(OTHER_ORG)) == []


def test_set_certificate_state_accepts_a_prefix_in_any_spelling(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    record = run(stores.trust.add_certificate(ORG, certificate()))
    spelled = ":".join(record.sha256_fingerprint[i : i + 2] for i in range(0, 12, 2)).upper()  # AB:CD:EF:…
    assert run(stores.trust.set_certificate_state(ORG, spelled, "retired")).state == "retired"
    assert run(stores.trust.set_certificate_state(ORG, record.sha256_fingerprint[:8], "active")).state == "active"
    assert run(stores.trust.list_certificates(ORG))[0].state == "active"


def test_set_certificate_state_errors(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    record = run(stores.trust.add_certificate(ORG, certificate()))
    with pytest.raises(ConfigurationError, match="8"):
        run(stores.trust.set_certificate_state(ORG, record.sha256_fingerprint[:7], "retired"))
    with pytest.raises(ConfigurationError):
        run(stores.trust.set_certificate_state(ORG, "zz" * 8, "retired"))
    with pytest.raises(ConfigurationError, match="state"):
        run(stores.trust.set_certificate_state(ORG, record.sha256_fingerprint, "revoked"))  # type: ignore[arg-type]
    other = "0" * 64 if not record.sha256_fingerprint.startswith("0") else "f" * 64
    with pytest.raises(NotFound):
        run(stores.trust.set_certificate_state(ORG, other, "retired"))
    with pytest.raises(NotFound):
        run(stores.trust.set_certificate_state(OTHER_ORG, record.sha256_fingerprint, "retired"))
    assert run(stores.trust.list_certificates(ORG)) == [record]


def test_a_second_handle_sees_registry_writes(stores: Stores, open_stores: Callable[[], Stores]) -> None:
    other = open_stores()
    generation = run(other.trust.generation())
    run(stores.trust.add_org(Org(org_id=ORG, name="Acme")))
    run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    assert run(other.trust.generation()) > generation
    org = run(other.trust.get_org(ORG))
    assert org is not None
    assert org.name == "Acme"
    assert [s.secret for s in run(other.trust.app_secrets("ck"))] == ["s1"]


# --- certificates trusted for several orgs, several certificates at once, algorithms -------------------


def test_a_certificate_of_another_org_is_refused_unless_shared(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_org(Org(org_id=OTHER_ORG)))
    cert = certificate("shared key")
    first = run(stores.trust.add_certificate(ORG, cert))
    assert first.shared is False
    generation = run(stores.trust.generation())
    with pytest.raises(CertificateShared, match=ORG):
        run(stores.trust.add_certificate(OTHER_ORG, cert))
    assert run(stores.trust.list_certificates(OTHER_ORG)) == []
    assert run(stores.trust.generation()) == generation  # a refused write changes nothing
    second = run(stores.trust.add_certificate(OTHER_ORG, cert, shared=True))
    assert second.shared is True
    # Every holder of the certificate is flagged, not only the org that joined.
    assert [r.shared for r in run(stores.trust.list_certificates(ORG))] == [True]
    assert run(stores.trust.certificate_holders(first.sha256_fingerprint)) == sorted([ORG, OTHER_ORG])


def test_certificate_holders_of_an_unknown_fingerprint(stores: Stores) -> None:
    assert run(stores.trust.certificate_holders("0" * 64)) == []


def test_add_certificates_is_all_or_nothing(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_org(Org(org_id=OTHER_ORG)))
    taken = certificate("taken")
    run(stores.trust.add_certificate(OTHER_ORG, taken))
    fresh = certificate("fresh")
    with pytest.raises(CertificateShared):
        run(stores.trust.add_certificates(ORG, [(fresh, "new"), (taken, "taken")]))
    assert run(stores.trust.list_certificates(ORG)) == []  # the first one was not kept either
    with pytest.raises(AlreadyExists):
        run(stores.trust.add_certificates(ORG, [(fresh, "one"), (fresh, "twice")]))
    added = run(stores.trust.add_certificates(ORG, [(fresh, "new"), (certificate("other"), "other")]))
    assert [r.label for r in added] == ["new", "other"]
    assert len(run(stores.trust.list_certificates(ORG))) == 2


@pytest.mark.parametrize("given", [[], "RS256", [""], ["RS 256"], [1]])
def test_org_algorithms_are_checked(stores: Stores, given: object) -> None:
    with pytest.raises(ConfigurationError):
        run(stores.trust.add_org(Org(org_id=ORG, algorithms=given)))  # type: ignore[arg-type]


def test_org_algorithms_round_trip(stores: Stores) -> None:
    org = run(stores.trust.add_org(Org(org_id=ORG)))
    assert org.algorithms == ("RS256",)
    stored = run(stores.trust.get_org(ORG))
    assert stored is not None
    assert stored.algorithms == ("RS256",)
    updated = run(stores.trust.update_org(ORG, algorithms=("RS512", "ES256")))
    assert updated.algorithms == ("RS512", "ES256")
    reread = run(stores.trust.get_org(ORG))
    assert reread is not None
    assert reread.algorithms == ("RS512", "ES256")
    assert run(stores.trust.update_org(ORG, name="x")).algorithms == ("RS512", "ES256")


def test_certificates_expiring_counts_active_certificates_of_enabled_orgs(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_org(Org(org_id=OTHER_ORG)))
    run(stores.trust.add_org(Org(org_id=THIRD_ORG)))
    active = run(stores.trust.add_certificate(ORG, certificate("active")))
    retired = run(stores.trust.add_certificate(ORG, certificate("retired")))
    run(stores.trust.set_certificate_state(ORG, retired.sha256_fingerprint, "retired"))
    run(stores.trust.add_certificate(OTHER_ORG, certificate("other")))
    run(stores.trust.add_certificate(THIRD_ORG, certificate("disabled")))
    run(stores.trust.update_org(THIRD_ORG, enabled=False))
    expiry = active.not_after
    # Counted: ORG's active certificate and OTHER_ORG's; not the retired one, not the disabled org's.
    assert run(stores.trust.certificates_expiring([expiry - 1, expiry, expiry + 1, expiry + 86_400])) == [0, 0, 2, 2]
    assert run(stores.trust.certificates_expiring([])) == []
