"""SecretBox (AES-256-GCM, context-bound) and where its key comes from."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest

from forcegate.core._b64 import b64url_decode, b64url_encode
from forcegate.errors import ConfigurationError
from forcegate.settings import Settings
from forcegate.stores.encryption import KEY_FILE_NAME, SecretBox, generate_key, load_secret_box, parse_key

KEY = bytes(range(32))


def test_round_trip_and_token_shape() -> None:
    box = SecretBox(KEY)
    token = box.encrypt(b"consumer secret", context="app_secret:ck:1")
    version, key_id, data = token.split(".")
    assert (version, key_id) == ("v1", box.key_id)
    assert len(b64url_decode(data)) == 12 + len(b"consumer secret") + 16
    assert box.decrypt(token, context="app_secret:ck:1") == b"consumer secret"
    assert box.decrypt(box.encrypt(b"", context="c"), context="c") == b""


def test_nonces_are_fresh() -> None:
    box = SecretBox(KEY)
    assert box.encrypt(b"same", context="c") != box.encrypt(b"same", context="c")


def test_the_context_is_bound() -> None:
    box = SecretBox(KEY)
    token = box.encrypt(b"secret", context="app_secret:ck:1")
    for other in ("app_secret:ck:2", "app_secret:other:1", "signing_key:ck:1", ""):
        with pytest.raises(ConfigurationError, match="failed authentication"):
            box.decrypt(token, context=other)


@pytest.mark.parametrize("position", [0, 11, 12, -1])
def test_tampering_is_detected(position: int) -> None:
    box = SecretBox(KEY)
    version, key_id, data = box.encrypt(b"secret value", context="c").split(".")
    raw = bytearray(b64url_decode(data))
    raw[position] ^= 0x01
    with pytest.raises(ConfigurationError, match="failed authentication"):
        box.decrypt(f"{version}.{key_id}.{b64url_encode(bytes(raw))}", context="c")


@pytest.mark.parametrize(
    "token", ["", "v1", "v2.abc.def", "v1.KEYID.!!!", "not.a.token.at.all", "v1.{kid}.AAAA", "v1.{kid}.a"]
)
def test_malformed_tokens_are_refused(token: str) -> None:
    box = SecretBox(KEY)
    with pytest.raises(ConfigurationError):
        box.decrypt(token.format(kid=box.key_id), context="c")


def test_a_different_key_is_named_as_such() -> None:
    token = SecretBox(KEY).encrypt(b"secret", context="c")
    other = SecretBox(bytes(32))
    assert other.key_id != SecretBox(KEY).key_id
    with pytest.raises(ConfigurationError, match="encrypted with a different key") as caught:
        other.decrypt(token, context="c")
    assert KEY.hex() not in str(caught.value)
    assert base64.urlsafe_b64encode(KEY).decode().rstrip("=") not in str(caught.value)


def test_the_key_stays_out_of_repr() -> None:
    box = SecretBox(KEY)
    assert repr(box) == f"SecretBox(key_id={box.key_id!r})"
    assert KEY.hex() not in repr(box)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_only_32_byte_keys(length: int) -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        SecretBox(os.urandom(length))


# --- the key's text form -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        base64.urlsafe_b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        base64.b64encode(KEY).decode(),
        " " + base64.b64encode(KEY).decode() + "\n",
    ],
)
def test_parse_key_accepts_base64_and_base64url(text: str) -> None:
    assert parse_key(text) == KEY


def test_parse_key_accepts_both_alphabets_for_a_key_that_needs_them() -> None:
    key = bytes([0xFB, 0xFF] * 16)  # encodes to characters that differ between the alphabets
    assert "-" in base64.urlsafe_b64encode(key).decode() or "_" in base64.urlsafe_b64encode(key).decode()
    assert parse_key(base64.urlsafe_b64encode(key).decode()) == key
    assert parse_key(base64.b64encode(key).decode()) == key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (base64.b64encode(bytes(16)).decode(), "decodes to 16 bytes"),
        (base64.b64encode(bytes(48)).decode(), "decodes to 48 bytes"),
        ("not base64 at all!", "not base64"),
        ("", "decodes to 0 bytes"),
    ],
)
def test_parse_key_refuses_wrong_keys_without_quoting_them(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_key(text, source="FORCEGATE_ENCRYPTION_KEY")
    assert "FORCEGATE_ENCRYPTION_KEY" in str(caught.value)
    if text:
        assert text not in str(caught.value)


def test_generate_key() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert len(parse_key(first)) == 32


# --- load_secret_box ---------------------------------------------------------------------------------


def test_the_configured_key_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", encryption_key=base64.urlsafe_b64encode(KEY).decode())
    assert load_secret_box(settings).key_id == SecretBox(KEY).key_id
    assert not (tmp_path / "data").exists()  # no key file is made when a key is configured


def test_a_configured_key_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, encryption_key=base64.b64encode(bytes(24)).decode())
    with pytest.raises(ConfigurationError, match="24 bytes"):
        load_secret_box(settings)


def test_the_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    first = load_secret_box(Settings(data_dir=data_dir))
    key_file = data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert SecretBox(parse_key(key_file.read_text())).key_id == first.key_id
    assert load_secret_box(Settings(data_dir=data_dir)).key_id == first.key_id
    assert [p.name for p in data_dir.iterdir()] == [KEY_FILE_NAME]  # no temporary file left behind


def test_an_existing_key_file_is_used(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text(base64.b64encode(KEY).decode() + "\n")
    assert load_secret_box(Settings(data_dir=tmp_path)).key_id == SecretBox(KEY).key_id


def test_a_broken_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("short\n")
    with pytest.raises(ConfigurationError, match="key file"):
        load_secret_box(Settings(data_dir=tmp_path))


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    barrier = threading.Barrier(8)
    key_ids: list[str] = []

    def load() -> None:
        barrier.wait()
        key_ids.append(load_secret_box(Settings(data_dir=data_dir)).key_id)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(key_ids) == 8
    assert len(set(key_ids)) == 1
    assert [p.name for p in data_dir.iterdir()] == [KEY_FILE_NAME]


def test_an_unwritable_data_dir_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data directory should be")
    with pytest.raises(ConfigurationError, match="Not a directory"):
        load_secret_box(Settings(data_dir=blocker / "data"))
