"""Duplicate member names are refused everywhere, without a second full parse on the hot path."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcegate.core._json import MAX_DEPTH, loads_unique
from forcegate.core.jws import loads_claims
from forcegate.errors import MalformedToken


@pytest.mark.parametrize(
    "text",
    [
        b'{"sub":"a","sub":"b"}',
        b'{"exp":1,"aud":"x","exp":2}',
        b'{"params":{"r":1,"r":2}}',
        b'[{"a":1},{"b":1,"b":2}]',
        b'{"a":"x:y","a":"z"}',  # the dropped member's value had a colon of its own
        b'{"a":"\\u003a","a":1}',  # an escaped colon would fool the count: the exact check decides
        b'{"a" : 1 , "a" : 2}',
    ],
)
def test_duplicates_are_refused(text: bytes) -> None:
    with pytest.raises(ValueError, match="duplicate JSON member"):
        loads_unique(text)
    with pytest.raises(MalformedToken, match="duplicate"):
        loads_claims(text if text.startswith(b"{") else b'{"x":' + text + b"}")


@pytest.mark.parametrize(
    "text",
    [b'{"a":1,"b":{"a":1}}', b'{"a":"x:y","b":"\\u003a"}', b'{"t":"\\u00e9:","u":[1,{"a":"::"}]}', b"[]"],
)
def test_equal_names_in_different_objects_are_fine(text: bytes) -> None:
    assert loads_unique(text) == json.loads(text)


_SCALARS = st.one_of(st.integers(-(2**62), 2**62), st.text(':\\"ab u003', max_size=6), st.booleans(), st.none())
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.lists(st.tuples(st.sampled_from(["a", "b", ":", 'c"']), inner), max_size=4)
    ),
    max_leaves=12,
)


def _render(value: object) -> str:
    """JSON text, where a list of (name, value) pairs is an object that may repeat a name."""
    if isinstance(value, list) and all(isinstance(v, tuple) for v in value) and value:
        return "{" + ",".join(f"{json.dumps(k)}:{_render(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_render(v) for v in value) + "]"
    return json.dumps(value)


def _has_duplicates(value: object) -> bool:
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        names = [k for k, _ in value]
        return len(names) != len(set(names)) or any(_has_duplicates(v) for _, v in value)
    if isinstance(value, list):
        return any(_has_duplicates(v) for v in value)
    return False


@given(_VALUES, st.booleans())
def test_agrees_with_an_exact_pairs_check(value: object, escape: bool) -> None:
    text = _render(value)
    if escape:
        text = text.replace(":", "\\u003a", 1) if '"' in text else text
    try:
        json.loads(text)
    except ValueError:
        return  # an escape put where it makes no JSON
    if _has_duplicates(value):
        with pytest.raises(ValueError, match="duplicate"):
            loads_unique(text)
    else:
        assert loads_unique(text) == json.loads(text)


def _nested(depth: int, *, objects: bool = False) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth if objects else b"[" * depth + b"]" * depth


@pytest.mark.parametrize("objects", [False, True])
@pytest.mark.parametrize("as_text", [False, True])
def test_nesting_up_to_max_depth_is_accepted_and_deeper_is_a_value_error(objects: bool, as_text: bool) -> None:
    # orjson.loads reads 1024 levels but the duplicate check's orjson.dumps writes only 254: the
    # TypeError it raised for 255..1024 levels reached the token endpoint as a 500 (fuzz/crashes/jwt/).
    def load(depth: int) -> object:
        data = _nested(depth, objects=objects)
        return loads_unique(data.decode() if as_text else data)

    assert load(MAX_DEPTH) == json.loads(_nested(MAX_DEPTH, objects=objects))
    for depth in (MAX_DEPTH + 1, 1024):
        with pytest.raises(ValueError, match=f"^JSON is nested more than {MAX_DEPTH} levels deep$"):
            load(depth)
    with pytest.raises(ValueError, match="depth limit exceeded"):  # orjson's own limit, past 1024
        load(1025)


def test_max_depth_is_what_orjson_writes() -> None:
    # Pinned: an orjson release that moves its limit changes what loads_unique accepts.
    orjson.dumps(orjson.loads(_nested(MAX_DEPTH)))
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(orjson.loads(_nested(MAX_DEPTH + 1)))


def test_claims_nested_too_deeply_are_a_malformed_token() -> None:
    with pytest.raises(MalformedToken) as refused:
        loads_claims(b'{"x":' + _nested(MAX_DEPTH) + b"}")
    assert refused.value.reason == f"claims are not acceptable JSON: JSON is nested more than {MAX_DEPTH} levels deep"


@pytest.mark.parametrize("number", ["18446744073709551616", "-9223372036854775809", "123456789012345678901234567890"])
def test_an_integer_beyond_64_bits_is_refused_not_read_as_a_float(number: str) -> None:
    for data in (f'{{"exp": {number}}}', f'{{"exp": {number}}}'.encode()):
        with pytest.raises(ValueError, match="does not fit in 64 bits"):
            loads_unique(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"n": 18446744073709551615}', {"n": 2**64 - 1}),
        ('{"n": -9223372036854775808}', {"n": -(2**63)}),
        ('{"s": "12345678901234567890123"}', {"s": "12345678901234567890123"}),  # digits in a string
    ],
)
def test_the_64_bit_range_and_long_digit_strings_pass(text: str, expected: object) -> None:
    assert loads_unique(text) == expected
