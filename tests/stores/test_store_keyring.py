"""SecretBox as a keyring (``FORCEGATE_ENCRYPTION_KEY=NEW,OLD``): seal with the first key, open with any."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from forcegate.errors import ConfigurationError
from forcegate.settings import Settings
from forcegate.stores.encryption import KEY_FILE_NAME, SecretBox, load_secret_box, parse_keys

NEW = bytes(range(32))
OLD = bytes(range(100, 132))
OTHER = bytes(32)


def text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def test_seals_with_the_first_key_and_opens_with_any() -> None:
    ring = SecretBox(NEW, OLD)
    assert ring.key_id == SecretBox(NEW).key_id
    assert ring.key_ids == (SecretBox(NEW).key_id, SecretBox(OLD).key_id)
    sealed = ring.encrypt(b"consumer secret", context="app_secret:ck:1")
    assert ring.sealed_with(sealed) == SecretBox(NEW).key_id
    # Made by the new key alone, so a worker with NEW only opens what the ring sealed ...
    assert SecretBox(NEW).decrypt(sealed, context="app_secret:ck:1") == b"consumer secret"
    # ... and the ring opens what either key sealed before (a database written under OLD).
    from_old = SecretBox(OLD).encrypt(b"old secret", context="signing_key:k")
    assert ring.sealed_with(from_old) == SecretBox(OLD).key_id
    assert ring.decrypt(from_old, context="signing_key:k") == b"old secret"


def test_a_token_from_a_key_outside_the_ring_is_named_as_such() -> None:
    sealed = SecretBox(OTHER).encrypt(b"secret", context="c")
    with pytest.raises(ConfigurationError, match="encrypted with a different key") as caught:
        SecretBox(NEW, OLD).decrypt(sealed, context="c")
    message = str(caught.value)
    assert SecretBox(OTHER).key_id in message
    assert SecretBox(NEW).key_id in message
    assert SecretBox(OLD).key_id in message
    for key in (NEW, OLD, OTHER):
        assert text(key) not in message
        assert key.hex() not in message


def test_the_context_stays_bound_under_every_key_of_the_ring() -> None:
    ring = SecretBox(NEW, OLD)
    for sealed in (
        ring.encrypt(b"s", context="app_secret:a:1"),
        SecretBox(OLD).encrypt(b"s", context="app_secret:a:1"),
    ):
        with pytest.raises(ConfigurationError, match="failed authentication"):
            ring.decrypt(sealed, context="app_secret:a:2")


def test_repr_names_key_ids_only() -> None:
    ring = SecretBox(NEW, OLD, NEW)  # a key listed twice keeps its first place
    assert ring.key_ids == (SecretBox(NEW).key_id, SecretBox(OLD).key_id)
    assert repr(ring) == f"SecretBox(key_id={ring.key_id!r}, previous=({SecretBox(OLD).key_id!r},))"
    assert NEW.hex() not in repr(ring)
    assert OLD.hex() not in repr(ring)


def test_every_key_of_the_ring_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        SecretBox(NEW, bytes(16))


def test_parse_keys_reads_a_comma_separated_ring() -> None:
    assert parse_keys(text(NEW)) == [NEW]
    assert parse_keys(f"{text(NEW)}, {text(OLD)}\n") == [NEW, OLD]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{text(NEW)},", r"FORCEGATE_ENCRYPTION_KEY \(key 2 of 2\) is empty"),
        (f"{text(NEW)},,{text(OLD)}", r"FORCEGATE_ENCRYPTION_KEY \(key 2 of 3\) is empty"),
        (f"{text(NEW)},{text(bytes(16))}", r"FORCEGATE_ENCRYPTION_KEY \(key 2 of 2\) decodes to 16 bytes"),
    ],
)
def test_parse_keys_names_the_faulty_key_without_quoting_any(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_keys(value, source="FORCEGATE_ENCRYPTION_KEY")
    assert text(NEW) not in str(caught.value)


def test_load_secret_box_takes_the_ring_from_the_setting(tmp_path: Path) -> None:
    box = load_secret_box(Settings(data_dir=tmp_path, encryption_key=f"{text(NEW)},{text(OLD)}"))
    assert box.key_ids == SecretBox(NEW, OLD).key_ids
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_the_key_file_still_holds_one_key(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text(base64.b64encode(OLD).decode() + "\n")
    box = load_secret_box(Settings(data_dir=tmp_path))
    assert box.key_ids == (SecretBox(OLD).key_id,)
