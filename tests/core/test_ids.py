from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcegate.core.ids import ORG_PREFIX, USER_PREFIX, is_valid, same_id, to15, to18, validate
from forcegate.errors import ConfigurationError, InvalidSalesforceId

ALNUM = string.ascii_letters + string.digits
ids15 = st.text(alphabet=ALNUM, min_size=15, max_size=15)
canonical18 = ids15.map(to18)

# 15 -> 18 pairs printed in the Canvas Developer Guide's examples, where the same record appears in
# both forms (Organization object, User object, Environment record), and in the Salesforce help.
DOCUMENTED = [
    ("00Dx00000001hxy", "00Dx00000001hxyEAA"),  # Canvas Guide, Organization.organizationId
    ("005x0000001SyyE", "005x0000001SyyEAAS"),  # Canvas Guide, User.userId
    ("001xx000003DGWi", "001xx000003DGWiAAO"),  # Canvas Guide, Environment.record.Id
]
# Worked examples from public write-ups of the algorithm (checked by hand below for the first).
PUBLISHED = [
    ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
    ("a0RE000000IJmcN", "a0RE000000IJmcNMAT"),
    ("a01M00000062mPg", "a01M00000062mPgIAI"),
    ("001M000000qfPyS", "001M000000qfPySIAU"),
    ("0F9E000000092w2", "0F9E000000092w2KAA"),
    ("aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"),
]


@pytest.mark.parametrize(("id15", "id18"), DOCUMENTED + PUBLISHED)
def test_known_answers(id15: str, id18: str) -> None:
    assert to18(id15) == id18
    assert to18(id18) == id18
    assert to15(id18) == id15
    assert same_id(id15, id18)


def test_hand_checked_checksum() -> None:
    # 0055g00000AbCdE in chunks 0055g | 00000 | AbCdE; bit i set when character i is upper-case:
    # chunk 1: none -> 0 -> "A"; chunk 2: none -> "A"; chunk 3: A(0), C(2), E(4) -> 1+4+16 = 21 -> "V".
    assert to18("0055g00000AbCdE") == "0055g00000AbCdEAAV"
    # All upper-case letters: ZZZZZ is 31 -> "5" for every chunk.
    assert to18("ZZZZZZZZZZZZZZZ") == "ZZZZZZZZZZZZZZZ555"


@pytest.mark.parametrize(
    "folded",
    ["005X0000001SYYEAAS", "005x0000001syyeaas", "005x0000001SyyEaas", "005X0000001SYYEaas"],
)
def test_case_folded_18_is_restored(folded: str) -> None:
    assert to18(folded) == "005x0000001SyyEAAS"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("005x0000001SyyEAA", "15 or 18 characters, not 17"),
        ("", "15 or 18 characters, not 0"),
        ("005x0000001Syy!", "only the characters 0-9"),
        ("005x0000001Syyé", "only the characters 0-9"),
        ("005x0000001SyyEAA9", "suffix of an 18-character id"),
        ("005X0000001SyyEAAS", "does not match the letter case"),  # mixed case that disagrees
        ("000000000000000AAB", "(a digit) as an upper-case letter"),
    ],
)
def test_invalid_ids_say_why(bad: str, reason: str) -> None:
    with pytest.raises(InvalidSalesforceId) as caught:
        to18(bad)
    assert reason in caught.value.reason
    assert not is_valid(bad)


def test_not_a_string() -> None:
    with pytest.raises(InvalidSalesforceId, match="not int"):
        to18(5)  # type: ignore[arg-type]  # the wrong type is the point of the test


def test_validate_checks_the_key_prefix() -> None:
    assert validate("00Dx00000001hxy", prefix=ORG_PREFIX) == "00Dx00000001hxyEAA"
    assert validate("005x0000001SyyE", prefix=USER_PREFIX) == "005x0000001SyyEAAS"
    with pytest.raises(InvalidSalesforceId, match="key prefix '005'"):
        validate("00Dx00000001hxy", prefix=USER_PREFIX)
    # Key prefixes are case-sensitive: 00d is not 00D.
    with pytest.raises(InvalidSalesforceId):
        validate("00dx00000001hxy", prefix=ORG_PREFIX)
    assert validate("a0D30000001n7Pi") == "a0D30000001n7PiEAI"


@pytest.mark.parametrize("prefix", ["", "00", "0000", "00!"])
def test_validate_refuses_a_malformed_prefix(prefix: str) -> None:
    with pytest.raises(ConfigurationError):
        validate("00Dx00000001hxy", prefix=prefix)


def test_same_id_is_false_for_different_or_invalid_ids() -> None:
    assert not same_id("005x0000001SyyE", "005x0000001Syye")  # 15-char ids are case-sensitive
    assert not same_id("005x0000001SyyE", "not an id")
    assert same_id("005x0000001SyyEAAS", "005X0000001SYYEAAS")


@given(canonical18)
def test_round_trip(sfid: str) -> None:
    assert to18(to15(sfid)) == sfid
    assert to18(sfid) == sfid
    assert len(sfid) == 18
    assert all(c in string.ascii_uppercase + "012345" for c in sfid[15:])


@given(canonical18)
def test_case_folded_copies_restore(sfid: str) -> None:
    assert to18(sfid.upper()) == sfid
    assert to18(sfid.lower()) == sfid
    assert same_id(sfid.lower(), to15(sfid))


@given(ids15)
def test_15_char_ids_differing_in_case_get_different_suffixes(sfid: str) -> None:
    swapped = sfid.swapcase()
    if swapped != sfid:  # ids of digits only have no case to swap
        assert to18(swapped) != to18(sfid)
        assert to18(swapped)[15:] != to18(sfid)[15:]


@given(st.one_of(st.text(max_size=40), st.text(alphabet=ALNUM + "!é ", min_size=15, max_size=18)))
def test_junk_raises_only_invalid_salesforce_id(junk: str) -> None:
    valid = is_valid(junk)  # is_valid swallows InvalidSalesforceId only: anything else fails the test
    if valid:
        assert len(junk) in (15, 18)
        assert all(c in ALNUM for c in junk)
        canonical = to18(junk)
        assert to18(canonical) == canonical
        assert same_id(junk, canonical)
    else:
        with pytest.raises(InvalidSalesforceId) as caught:
            to18(junk)
        assert caught.value.reason
