from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcegate.core import ids
from forcegate.core.claim_profile import (
    MAX_INSTANCE_URL_LENGTH,
    MAX_PARAMS_BYTES,
    PROFILE_CLAIMS,
    UNIQUENESS_CLAIMS,
    ProfileClaims,
    is_scope,
    read_org_id,
    read_profile,
    split_scope,
)
from forcegate.errors import ClaimsTooLarge, InvalidClaim

ORG15 = "00D5g000004ABCD"
USER15 = "0055g00000AbCdE"
RECORD15 = "0015g00000XyZab"
ORG, USER, RECORD = ids.to18(ORG15), ids.to18(USER15), ids.to18(RECORD15)


def test_no_profile_claims_gives_the_empty_profile() -> None:
    assert read_profile({"iss": ORG, "sub": "a@b.c"}) == ProfileClaims()
    assert read_profile({}).scopes is None


def test_a_full_profile_is_normalised() -> None:
    profile = read_profile(
        {
            "org_id": ORG15,
            "user_id": USER15,
            "record_id": RECORD15,
            "instance_url": "https://acme.my.salesforce.com",
            "params": {"mode": "edit", "n": [1, 2]},
            "scope": "api refresh_token api",
        }
    )
    assert profile.org_id == ORG
    assert profile.user_id == USER
    assert profile.record_id == RECORD
    assert profile.instance_url == "https://acme.my.salesforce.com"
    assert dict(profile.params) == {"mode": "edit", "n": [1, 2]}
    assert profile.scopes == frozenset({"api", "refresh_token"})


@pytest.mark.parametrize("claim", sorted(UNIQUENESS_CLAIMS))
@pytest.mark.parametrize("value", ["9f86d081884c7d659a2feaa0c55ad015", 42, None, {"x": 1}])
def test_uniqueness_claims_are_accepted_and_never_read(claim: str, value: object) -> None:
    # forcegate_nonce is what the generated Apex sends; nonce is what older Apex sends.
    assert read_profile({claim: value}) == ProfileClaims()
    assert read_profile({claim: value, "user_id": USER15}) == ProfileClaims(user_id=USER)
    assert not UNIQUENESS_CLAIMS & PROFILE_CLAIMS


def test_case_folded_18_character_ids_are_restored() -> None:
    assert read_profile({"user_id": USER.upper()}).user_id == USER


def test_null_counts_as_absent() -> None:
    claims = dict.fromkeys(("org_id", "user_id", "record_id", "instance_url", "params", "scope"))
    assert read_profile(claims) == ProfileClaims()


def test_params_are_read_only() -> None:
    params = read_profile({"params": {"a": 1}}).params
    with pytest.raises(TypeError):
        params["a"] = 2  # type: ignore[index]  # proving the mapping is read-only


@pytest.mark.parametrize(
    ("claims", "claim"),
    [
        ({"org_id": USER}, "org_id"),  # a valid id with the wrong key prefix
        ({"org_id": ORG + "X"}, "org_id"),
        ({"org_id": 5}, "org_id"),
        ({"user_id": ORG}, "user_id"),
        ({"user_id": ["005"]}, "user_id"),
        ({"record_id": ""}, "record_id"),
        ({"record_id": "001-not-an-id!"}, "record_id"),
        ({"record_id": USER[:15] + "AAA"}, "record_id"),  # checksum does not match the case
        ({"instance_url": 42}, "instance_url"),
        ({"instance_url": "http://acme.my.salesforce.com"}, "instance_url"),
        ({"instance_url": "ftp://acme.my.salesforce.com"}, "instance_url"),
        ({"instance_url": "acme.my.salesforce.com"}, "instance_url"),
        ({"instance_url": "https://"}, "instance_url"),
        ({"instance_url": "https://:443"}, "instance_url"),
        ({"instance_url": "https://user:pw@acme.my.salesforce.com"}, "instance_url"),
        ({"instance_url": "https://@acme.my.salesforce.com"}, "instance_url"),
        ({"instance_url": "https://acme.my.salesforce.com?x=1"}, "instance_url"),
        ({"instance_url": "https://acme.my.salesforce.com/?"}, "instance_url"),
        ({"instance_url": "https://acme.my.salesforce.com#top"}, "instance_url"),
        ({"instance_url": "https://acme.my.salesforce.com#"}, "instance_url"),
        ({"instance_url": "https://acme.my.salesforce.com:99999"}, "instance_url"),
        ({"instance_url": "https://acme.my.salesforce.com\n"}, "instance_url"),
        ({"instance_url": "https://ac\tme.my.salesforce.com"}, "instance_url"),
        ({"instance_url": "https://acme.my.salesforce.com/a b"}, "instance_url"),
        ({"instance_url": "https://bücher.example"}, "instance_url"),
        ({"instance_url": "https://[::1"}, "instance_url"),
        ({"instance_url": "https://a.example/" + "x" * MAX_INSTANCE_URL_LENGTH}, "instance_url"),
        ({"params": [1, 2]}, "params"),
        ({"params": "a=b"}, "params"),
        ({"scope": ["api"]}, "scope"),
        ({"scope": ""}, "scope"),
        ({"scope": "api  refresh"}, "scope"),
        ({"scope": " api"}, "scope"),
        ({"scope": "api "}, "scope"),
        ({"scope": 'a"b'}, "scope"),  # %x22 is not a scope-token character
        ({"scope": "a\\b"}, "scope"),  # nor is %x5C
        ({"scope": "api\trefresh"}, "scope"),
        ({"scope": "créer"}, "scope"),
    ],
)
def test_invalid_claims_are_refused_naming_the_claim(claims: dict[str, Any], claim: str) -> None:
    with pytest.raises(InvalidClaim) as caught:
        read_profile(claims)
    assert f"'{claim}'" in caught.value.reason


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.my.salesforce.com",
        "https://acme.my.salesforce.com/",
        "https://acme.my.site.com/partners",
        "https://acme.my.salesforce.com:8443",
        "http://localhost:8080",
        "http://127.0.0.1",
        "http://[::1]:9000",
    ],
)
def test_instance_urls_that_are_accepted(url: str) -> None:
    assert read_profile({"instance_url": url}).instance_url == url


def test_params_up_to_the_size_bound_are_accepted() -> None:
    filler = "x" * (MAX_PARAMS_BYTES - len('{"k":""}'))
    params = {"k": filler}
    assert len(json.dumps(params, separators=(",", ":"))) == MAX_PARAMS_BYTES
    assert read_profile({"params": params}).params["k"] == filler


def test_params_over_the_size_bound_are_too_large() -> None:
    params = {"k": "x" * (MAX_PARAMS_BYTES - len('{"k":""}') + 1)}
    with pytest.raises(ClaimsTooLarge) as caught:
        read_profile({"params": params})
    assert "'params'" in caught.value.reason


def test_params_size_counts_utf8_bytes_not_characters() -> None:
    # 'é' is two bytes: half as many characters as the bound already exceed it.
    with pytest.raises(ClaimsTooLarge):
        read_profile({"params": {"k": "é" * (MAX_PARAMS_BYTES // 2)}})


def test_params_nested_beyond_what_can_be_re_encoded_are_refused() -> None:
    deep: Any = "leaf"
    for _ in range(300):
        deep = [deep]
    with pytest.raises(InvalidClaim, match="'params'"):
        read_profile({"params": {"deep": deep}})


def test_read_org_id_alone() -> None:
    assert read_org_id({"org_id": ORG15}) == ORG
    assert read_org_id({}) is None
    with pytest.raises(InvalidClaim):
        read_org_id({"org_id": USER})


_TOKEN_CHARS = st.sampled_from([chr(c) for c in (0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F))])
_TOKENS = st.lists(st.text(_TOKEN_CHARS, min_size=1, max_size=12), min_size=1, max_size=6)


@given(_TOKENS)
def test_any_rfc6749_scope_is_accepted_and_split(tokens: list[str]) -> None:
    text = " ".join(tokens)
    assert is_scope(text)
    assert split_scope(text) == frozenset(tokens)
    assert read_profile({"scope": text}).scopes == frozenset(tokens)


@given(_TOKENS, st.sampled_from([" ", '"', "\\", "\x7f", "\x00", "\u00e9"]), st.integers(min_value=0, max_value=5))
def test_a_forbidden_character_anywhere_makes_an_invalid_scope(tokens: list[str], bad: str, where: int) -> None:
    text = " ".join(tokens)
    where = min(where, len(text))
    # A space is only wrong when doubled, leading or trailing.
    text = " " + text if bad == " " else text[:where] + bad + text[where:]
    assert not is_scope(text)
