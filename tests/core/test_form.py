"""The one urlencoded form parser: strict, and in agreement with the standard library where it accepts."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcegate.core.form import DEFAULT_MAX_FIELDS as MAX_FIELDS
from forcegate.core.form import _parse_fields, parse_form, required
from forcegate.errors import RequestError

_FORM_ALPHABET = st.sampled_from([*"ab=&%+3AFfz\u00e9 ", "%C3%A9", "%3D", "%26", "%2"])


@given(st.lists(_FORM_ALPHABET, max_size=30).map("".join))
def test_field_parsing_agrees_with_the_standard_library(text: str) -> None:
    try:
        expected = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS, errors="strict"
        )
    except ValueError:
        with pytest.raises(ValueError):  # noqa: PT011  # any ValueError: the stdlib's messages vary
            _parse_fields(text, MAX_FIELDS)
        return
    names = [name for name, _ in expected]
    if len(names) != len(set(names)):
        with pytest.raises(ValueError, match="repeated"):
            _parse_fields(text, MAX_FIELDS)
    else:
        assert _parse_fields(text, MAX_FIELDS) == dict(expected)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"a=1&a=2", "repeated"),
        (b"a", "without '='"),
        (b"a=%FF", "not UTF-8"),
        (b"\xff=1", "not UTF-8"),
        (b"&".join(b"f%d=1" % i for i in range(MAX_FIELDS + 1)), "more than"),
    ],
)
def test_bad_forms_are_request_errors(body: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        parse_form(body)


def test_required_treats_an_empty_value_as_omitted() -> None:
    fields = parse_form(b"token=&other=x")
    with pytest.raises(RequestError, match="missing parameter 'token'"):
        required(fields, "token")
    assert required(fields, "other") == "x"
