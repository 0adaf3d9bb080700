from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcegate.core._b64 import b64_decode_lenient, b64_encode, b64url_decode, b64url_decode_segment, b64url_encode


@given(st.binary(max_size=300))
def test_base64url_round_trip(data: bytes) -> None:
    encoded = b64url_encode(data)
    assert "=" not in encoded
    assert b64url_decode(encoded) == data
    assert b64url_decode_segment(encoded) == data


@given(st.text(max_size=80))
def test_base64url_decoders_agree_and_only_raise_value_error(text: str) -> None:
    # The hot-path decoder must accept exactly what the strict one accepts.
    try:
        strict: bytes | None = b64url_decode(text)
    except ValueError:
        strict = None
    try:
        fast: bytes | None = b64url_decode_segment(text) if text.isascii() else None
    except ValueError:
        fast = None
    assert fast == strict
    if strict is not None:
        assert b64url_encode(strict) == text  # one spelling per value: canonical only


@pytest.mark.parametrize("text", ["QQ==", "QQ=", "QR", "QUF", "Q", "QU+B", "QU/B", "QU B", "QUé"])
def test_base64url_refuses_non_canonical_or_foreign_input(text: str) -> None:
    with pytest.raises(ValueError, match="not base64url"):
        b64url_decode(text)


@given(st.binary(max_size=300))
def test_lenient_decoder_accepts_every_common_spelling(data: bytes) -> None:
    standard = b64_encode(data)
    assert standard == base64.b64encode(data).decode()
    for spelling in (standard, standard.rstrip("="), base64.urlsafe_b64encode(data).decode(), f" {standard}\n"):
        assert b64_decode_lenient(spelling) == data


@given(st.text(max_size=80))
def test_lenient_decoder_decodes_or_raises_value_error(text: str) -> None:
    try:
        decoded: bytes | None = b64_decode_lenient(text)
    except ValueError as exc:
        decoded, message = None, str(exc)
    if decoded is None:
        assert message.startswith("not base64")
    else:  # what it accepted is the same bytes as its canonical spelling
        assert b64_decode_lenient(b64_encode(decoded)) == decoded
        assert len(decoded) == len(text.strip().rstrip("=")) * 3 // 4
