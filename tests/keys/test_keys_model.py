from __future__ import annotations

import pytest

from forcegate.errors import KeyMaterialError
from forcegate.keys import KeyEntry, Keystore


def _store(*entries: KeyEntry) -> Keystore:
    return Keystore(entries=entries)


def test_get_exact_then_case_insensitive(rsa_entry: KeyEntry, ec_entry: KeyEntry) -> None:
    store = _store(rsa_entry, ec_entry)
    assert store.get("ec_p256") is ec_entry
    assert store.get("EC_P256") is ec_entry
    assert store.aliases == ("forcegate_test", "ec_p256")


def test_get_names_the_known_aliases(rsa_entry: KeyEntry, ec_entry: KeyEntry) -> None:
    with pytest.raises(KeyMaterialError, match=r"'missing'.*'forcegate_test', 'ec_p256'"):
        _store(rsa_entry, ec_entry).get("missing")


def test_signing_entry(rsa_entry: KeyEntry, ec_entry: KeyEntry) -> None:
    certificate_only = KeyEntry(alias="c", kind="certificate", source_format="pem", certificate=rsa_entry.certificate)
    assert _store(certificate_only, rsa_entry).signing_entry() is rsa_entry
    assert _store(rsa_entry, ec_entry).signing_entry("ec_p256") is ec_entry
    with pytest.raises(KeyMaterialError, match="several private keys"):
        _store(rsa_entry, ec_entry).signing_entry()
    with pytest.raises(KeyMaterialError, match="no private key"):
        _store(certificate_only).signing_entry()
    with pytest.raises(KeyMaterialError, match="certificate entry, not a private key"):
        _store(certificate_only).signing_entry("c")


def test_repr_hides_secrets(rsa_entry: KeyEntry) -> None:
    text = repr(rsa_entry)
    assert "private_key=" not in text
    assert "forcegate_test" in text
