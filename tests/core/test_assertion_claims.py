"""AssertionVerifier: the claim checks, subjects, scope, and single use (replay)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from core.assertion_support import (
    AUD,
    NOW,
    ORG,
    OTHER_ORG,
    USER,
    USERNAME,
    FakeDirectory,
    MemoryReplay,
    run,
)
from forcegate.clock import FixedClock
from forcegate.core import ids
from forcegate.core.assertion import MAX_SUBJECT_LENGTH, AssertionVerifier
from forcegate.core.claim_profile import MAX_PARAMS_BYTES
from forcegate.core.trust import OrgTrust
from forcegate.errors import (
    AssertionReplayed,
    ClaimsTooLarge,
    ForcegateError,
    InvalidAudience,
    InvalidClaim,
    InvalidScope,
    LifetimeTooLong,
    MissingClaim,
    SubjectNotAllowed,
    TokenExpired,
    TokenNotYetValid,
)
from helpers import make_jws

# --- claims, subjects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"aud": "https://svc.example.com/oauth2/token/"}, InvalidAudience),
        ({"aud": None}, MissingClaim),
        ({"validity": -61}, TokenExpired),
        ({"skew": -120}, TokenNotYetValid),
        ({"validity": 361}, LifetimeTooLong),
        ({"sub": None}, MissingClaim),
        ({"sub": ""}, MissingClaim),
        ({"sub": "x" * (MAX_SUBJECT_LENGTH + 1)}, InvalidClaim),
        ({"instance_url": "http://acme.example.com"}, InvalidClaim),
        ({"user_id": ORG}, InvalidClaim),
        ({"params": {"k": "x" * MAX_PARAMS_BYTES}}, ClaimsTooLarge),
        ({"scope": "api  refresh"}, InvalidClaim),
    ],
)
def test_claim_checks(
    verifier: AssertionVerifier, mint: Any, kwargs: dict[str, Any], error: type[ForcegateError]
) -> None:
    with pytest.raises(error):
        run(verifier, mint(**kwargs))


def test_sub_must_be_a_string(verifier: AssertionVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidClaim, match="'sub'"):
        run(verifier, make_jws({"iss": ORG, "sub": 5, "aud": AUD, "exp": NOW + 60}, rsa_key))


def test_the_org_lifetime_cap_overrides_the_default(
    org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory
) -> None:
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    directory.orgs[ORG] = replace(org, max_assertion_lifetime=900)
    assert run(verifier, mint(validity=900)).identity.expires_at == NOW + 900
    directory.orgs[ORG] = replace(org, max_assertion_lifetime=60)
    with pytest.raises(LifetimeTooLong):
        run(verifier, mint(validity=300))
    directory.orgs[ORG] = org
    assert run(verifier, mint(validity=300)).org is org


def test_subject_lists(org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory) -> None:
    directory.orgs[ORG] = replace(org, subjects=frozenset({USERNAME}))
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    assert run(verifier, mint()).identity.username == USERNAME
    with pytest.raises(SubjectNotAllowed):
        run(verifier, mint(sub="someone.else@acme.example"))


def test_a_user_id_as_sub_is_the_user_and_no_username(verifier: AssertionVerifier, mint: Any) -> None:
    identity = run(verifier, mint(sub=USER[:15])).identity
    assert identity.user_id == USER
    assert identity.username is None
    assert run(verifier, mint(sub=USER, user_id=USER[:15])).identity.user_id == USER
    with pytest.raises(InvalidClaim, match="'user_id'"):
        run(verifier, mint(sub=USER, user_id=ids.to18("0055g00000ZzZzZ")))


# --- scope --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "claim", "granted"),
    [
        (None, None, {"api", "refresh"}),
        (None, "api", {"api"}),
        ("refresh", None, {"refresh"}),
        ("refresh", "api", {"refresh"}),  # the request parameter wins over the claim
        ("", "api", {"api"}),  # an empty parameter is an omitted one (RFC 6749 §3.1)
        ("api refresh", None, {"api", "refresh"}),
    ],
)
def test_scope_resolution(
    verifier: AssertionVerifier, mint: Any, form: str | None, claim: str | None, granted: set[str]
) -> None:
    token = mint(scope=claim) if claim else mint()
    assert run(verifier, token, scope=form).identity.scopes == granted


@pytest.mark.parametrize(("form", "claim"), [("admin", None), (None, "api admin"), ("api  x", None), ('a"b', None)])
def test_invalid_scope(verifier: AssertionVerifier, mint: Any, form: str | None, claim: str | None) -> None:
    token = mint(scope=claim) if claim else mint()
    with pytest.raises(InvalidScope):
        run(verifier, token, scope=form)


# --- single use -----------------------------------------------------------------------------------------


def test_second_use_is_a_replay(verifier: AssertionVerifier, mint: Any, replay: MemoryReplay) -> None:
    token = mint()
    run(verifier, token, replay)
    with pytest.raises(AssertionReplayed):
        run(verifier, token, replay)
    run(verifier, mint(validity=299), replay)  # a fresh assertion is fine


def test_a_failing_token_never_burns_its_key(
    verifier: AssertionVerifier, mint: Any, replay: MemoryReplay, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    failing = [
        mint(aud="https://elsewhere.example.com"),
        mint(validity=-120),
        mint(org_id=OTHER_ORG),
        mint(scope="admin"),
        make_jws({"iss": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 60}, other_rsa_key),
    ]
    for token in failing:
        with pytest.raises(ForcegateError):
            run(verifier, token, replay)
    assert replay.claimed == {}
    token = mint(scope="api")
    with pytest.raises(InvalidScope):
        run(verifier, token, replay, scope="admin")
    assert run(verifier, token, replay).identity.scopes == {"api"}  # the same token, now asking properly
