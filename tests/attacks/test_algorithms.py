"""The token never chooses how it is checked: ``alg`` none, missing, malformed, outside the org's list,
and HMAC keyed with the org's public key (the algorithm-confusion attack) in every encoding of it."""

from __future__ import annotations

from typing import Any

import pytest

from attacks.forge import Attack, Build, Forge, compact, one_per_code, params, public_key_encodings
from attacks.harness import Library, Target
from helpers import b64url

NONE_CASINGS = ("none", "None", "NONE", "nOnE")


def _unsigned(forge: Forge, header: dict[str, Any]) -> str:
    """An unsecured JWS (RFC 7519 §6): header, payload and an empty signature."""
    return f"{b64url(compact(header))}.{b64url(forge.claims_json())}."


def _unsigned_with(alg: str) -> Build:
    return lambda forge: _unsigned(forge, {"alg": alg})


def _signed(header: dict[str, Any]) -> Build:
    """Org A's own RS256 signature under a header claiming something else: only the header is wrong."""
    return lambda forge: forge.token(header=header)


NONE = [
    *[Attack(f"alg-{alg}-unsigned", _unsigned_with(alg), "malformed_token") for alg in NONE_CASINGS],
    *[Attack(f"alg-{alg}-signed", _signed({"alg": alg}), "unsupported_algorithm") for alg in NONE_CASINGS],
    Attack("alg-none-garbage-signature", lambda f: _unsigned(f, {"alg": "none"}) + "AAAA", "unsupported_algorithm"),
]

MALFORMED_ALG = [
    Attack("alg-missing", _signed({}), "malformed_token"),
    Attack("alg-missing-typ-jwt", _signed({"typ": "JWT"}), "malformed_token"),
    Attack("alg-empty", _signed({"alg": ""}), "unsupported_algorithm"),
    Attack("alg-number", _signed({"alg": 256}), "malformed_token"),
    Attack("alg-zero", _signed({"alg": 0}), "malformed_token"),
    Attack("alg-float", _signed({"alg": 1.5}), "malformed_token"),
    Attack("alg-null", _signed({"alg": None}), "malformed_token"),
    Attack("alg-true", _signed({"alg": True}), "malformed_token"),
    Attack("alg-list", _signed({"alg": ["RS256"]}), "malformed_token"),
    Attack("alg-empty-list", _signed({"alg": []}), "malformed_token"),
    Attack("alg-object", _signed({"alg": {"name": "RS256"}}), "malformed_token"),
    Attack("alg-lowercase", _signed({"alg": "rs256"}), "unsupported_algorithm"),
    Attack("alg-mixed-case", _signed({"alg": "Rs256"}), "unsupported_algorithm"),
    Attack("alg-trailing-space", _signed({"alg": "RS256 "}), "unsupported_algorithm"),
    Attack("alg-nul", _signed({"alg": "RS256\x00"}), "unsupported_algorithm"),
    Attack("alg-unknown", _signed({"alg": "RS257"}), "unsupported_algorithm"),
]

#: Real signatures, of algorithms the service implements, that org A (RS256 only) does not allow: the
#: parser admits every asymmetric algorithm, the org's own list refuses them before its keys are tried.
NOT_THE_ORGS = [
    Attack("alg-PS256-by-org-key", lambda f: f.token(alg="PS256"), "unsupported_algorithm"),
    Attack("alg-PS512-by-org-key", lambda f: f.token(alg="PS512"), "unsupported_algorithm"),
    Attack("alg-RS384-by-org-key", lambda f: f.token(alg="RS384"), "unsupported_algorithm"),
    Attack("alg-RS512-by-org-key", lambda f: f.token(alg="RS512"), "unsupported_algorithm"),
    Attack("alg-ES256", lambda f: f.token(key=f.ec_key, alg="ES256"), "unsupported_algorithm"),
]

#: HMAC is never an assertion algorithm (no secret is shared with an org): refused while parsing.
HMAC = [
    Attack("alg-HS256-random-secret", lambda f: f.token(key=b"k" * 32, alg="HS256"), "unsupported_algorithm"),
    Attack("alg-HS384-random-secret", lambda f: f.token(key=b"k" * 48, alg="HS384"), "unsupported_algorithm"),
    Attack("alg-HS512-random-secret", lambda f: f.token(key=b"k" * 64, alg="HS512"), "unsupported_algorithm"),
]


def _confusion(encoding: str, alg: str = "HS256") -> Attack:
    def build(forge: Forge) -> str:
        secret = public_key_encodings(forge.key_a, forge.cert_a)[encoding]
        return forge.token(key=secret, alg=alg)

    return Attack(f"{alg}-keyed-with-{encoding}", build, "unsupported_algorithm")


ENCODINGS = (
    "spki-pem",
    "spki-pem-stripped",
    "pkcs1-pem",
    "spki-der",
    "pkcs1-der",
    "cert-pem",
    "cert-der",
    "cert-der-base64",
    "openssh",
    "jwk-json",
    "jwk-json-spaced",
    "jwk-n",
    "n-bytes",
)
CONFUSION = [
    *[_confusion(encoding) for encoding in ENCODINGS],
    _confusion("spki-pem", "HS384"),
    _confusion("spki-pem", "HS512"),
    _confusion("cert-pem", "HS512"),
]

#: Refused while parsing, before the registry is asked anything (decision 0005, STYLE.md principle 4).
BEFORE_ANY_LOOKUP = [*NONE, *MALFORMED_ALG, *HMAC, *CONFUSION]
ATTACKS = [*BEFORE_ANY_LOOKUP, *NOT_THE_ORGS]


@pytest.mark.parametrize("attack", params(BEFORE_ANY_LOOKUP))
def test_refused_before_the_registry_is_asked(library: Library, attack: Attack) -> None:
    library.refuse(attack.build(library.forge), attack.code)
    assert library.directory.lookups == []


@pytest.mark.parametrize("attack", params(NOT_THE_ORGS))
def test_the_orgs_list_is_checked_before_its_keys(library: Library, attack: Attack) -> None:
    """A real PS256 signature by org A's own key is refused for what it is, not tried."""
    error = library.refuse(attack.build(library.forge), attack.code)
    assert "is not allowed for org" in error.reason
    assert library.directory.lookups == [library.forge.org_a]


@pytest.mark.parametrize("attack", params(ATTACKS))
def test_refused_at_the_token_endpoint(http: Target, attack: Attack) -> None:
    http.refused_at_token_endpoint(attack.build(http.forge), attack.code)


@pytest.mark.parametrize("attack", params(one_per_code(ATTACKS)))
def test_refused_at_the_api(http: Target, attack: Attack) -> None:
    http.refused_at_api(attack.build(http.forge), attack.code)
