"""Contract: signing-key changes (add, retire) bump the registry generation, on every backend.

Workers reload their signing keys when the generation moves, so a rotation needs no restart: these
tests pin that every key change moves it (in the same transaction: a refused change does not), and
that the key that signs, or the last key, cannot be retired.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from forcegate.errors import AlreadyExists, NotFound, RegistryError
from forcegate.stores import SigningKey, Stores
from stores.stores_support import NOW, run

PEM = b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def key(kid: str, *, at: float, active: bool = True) -> SigningKey:
    return SigningKey(kid=kid, algorithm="ES256", private_pem=PEM + kid.encode(), created_at=at, active=active)


def kids(stores: Stores) -> list[str]:
    return [k.kid for k in run(stores.keys.signing_keys())]


def test_adding_a_key_bumps_the_generation_another_handle_sees(
    stores: Stores, open_stores: Callable[[], Stores]
) -> None:
    other = open_stores()  # another worker
    before = run(other.trust.generation())
    run(stores.keys.add_signing_key(key("k1", at=NOW)))
    assert run(other.trust.generation()) == before + 1
    run(stores.keys.add_signing_key(key("k2", at=NOW + 10)))
    assert run(other.trust.generation()) == before + 2
    assert kids(other) == ["k2", "k1"]


def test_a_refused_add_does_not_bump_the_generation(stores: Stores) -> None:
    run(stores.keys.add_signing_key(key("k1", at=NOW)))
    before = run(stores.trust.generation())
    with pytest.raises(AlreadyExists, match="k1"):
        run(stores.keys.add_signing_key(key("k1", at=NOW + 5)))
    assert run(stores.trust.generation()) == before
    assert kids(stores) == ["k1"]


def test_retiring_a_key_deletes_it_and_bumps_the_generation(stores: Stores, open_stores: Callable[[], Stores]) -> None:
    other = open_stores()
    run(stores.keys.add_signing_key(key("old", at=NOW)))
    run(stores.keys.add_signing_key(key("new", at=NOW + 10)))
    before = run(other.trust.generation())
    run(stores.keys.retire_signing_key("old"))
    assert run(other.trust.generation()) == before + 1
    assert kids(other) == ["new"]
    # The survivor is intact (its sealed private key opens).
    assert run(other.keys.signing_keys())[0].private_pem == PEM + b"new"


def test_the_key_that_signs_cannot_be_retired(stores: Stores) -> None:
    run(stores.keys.add_signing_key(key("old", at=NOW)))
    run(stores.keys.add_signing_key(key("new", at=NOW + 10)))
    before = run(stores.trust.generation())
    with pytest.raises(RegistryError, match="new is the one that signs"):
        run(stores.keys.retire_signing_key("new"))
    assert run(stores.trust.generation()) == before
    assert kids(stores) == ["new", "old"]


def test_the_only_key_cannot_be_retired(stores: Stores) -> None:
    run(stores.keys.add_signing_key(key("only", at=NOW)))
    before = run(stores.trust.generation())
    with pytest.raises(RegistryError, match="only"):
        run(stores.keys.retire_signing_key("only"))
    assert kids(stores) == ["only"]
    assert run(stores.trust.generation()) == before


def test_the_signer_is_the_newest_active_key_not_the_newest(stores: Stores) -> None:
    run(stores.keys.add_signing_key(key("signer", at=NOW)))
    run(stores.keys.add_signing_key(key("standby", at=NOW + 10, active=False)))
    with pytest.raises(RegistryError, match="signer is the one that signs"):
        run(stores.keys.retire_signing_key("signer"))
    run(stores.keys.retire_signing_key("standby"))  # newer, but inactive: it signs nothing
    assert kids(stores) == ["signer"]


def test_an_unknown_key_is_not_found_and_changes_nothing(stores: Stores) -> None:
    run(stores.keys.add_signing_key(key("k1", at=NOW)))
    run(stores.keys.add_signing_key(key("k2", at=NOW + 10)))
    before = run(stores.trust.generation())
    with pytest.raises(NotFound, match="no signing key with kid 'nope'"):
        run(stores.keys.retire_signing_key("nope"))
    assert run(stores.trust.generation()) == before
    assert kids(stores) == ["k2", "k1"]


def test_a_retired_key_can_be_retired_only_once(stores: Stores) -> None:
    run(stores.keys.add_signing_key(key("k1", at=NOW)))
    run(stores.keys.add_signing_key(key("k2", at=NOW + 10)))
    run(stores.keys.add_signing_key(key("k3", at=NOW + 20)))
    run(stores.keys.retire_signing_key("k1"))
    with pytest.raises(NotFound):
        run(stores.keys.retire_signing_key("k1"))
    run(stores.keys.retire_signing_key("k2"))
    assert kids(stores) == ["k3"]
