"""Claims of the wrong type, and near misses of ``aud``, ``iss`` and org ids.

Every token here is signed by org A's own key: the claim is the only thing wrong with it. A claim of
the wrong type is refused, never coerced (``"1750000000"`` is not a NumericDate, ``true`` is not 1);
``aud`` and ``iss`` are compared exactly; an org id is the same org only when it is the same id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from attacks.forge import DROP, Attack, Build, Forge, one_per_code, params
from attacks.harness import Library, Target
from core.assertion_support import MemoryReplay
from forcegate.core import ids

_HOLE = "@@claim@@"


def _claim(name: str, value: Any) -> Build:
    return lambda forge: forge.token(forge.claims(**{name: value}))


def _relative(name: str, offset: Callable[[int], Any]) -> Build:
    """``name`` set to ``offset(forge.now)``."""
    return lambda forge: forge.token(forge.claims(**{name: offset(forge.now)}))


def _literal(name: str, literal: str) -> Build:
    """``name`` spelled as the raw JSON ``literal`` (numbers Python's json module would not write)."""

    def build(forge: Forge) -> str:
        claims = forge.claims_json(**{name: _HOLE}).replace(f'"{_HOLE}"'.encode(), literal.encode())
        return forge.raw(b'{"alg":"RS256"}', claims)

    return build


def _times(name: str) -> list[Attack]:
    return [
        Attack(f"{name}-string", _relative(name, lambda now: str(now + 60)), "invalid_claim"),
        Attack(f"{name}-iso-date", _claim(name, "2030-01-01T00:00:00Z"), "invalid_claim"),
        Attack(f"{name}-true", _claim(name, True), "invalid_claim"),
        Attack(f"{name}-false", _claim(name, False), "invalid_claim"),
        Attack(f"{name}-null", _claim(name, None), "invalid_claim"),
        Attack(f"{name}-list", _relative(name, lambda now: [now + 60]), "invalid_claim"),
        Attack(f"{name}-object", _relative(name, lambda now: {"$date": now + 60}), "invalid_claim"),
        Attack(f"{name}-1e400", _literal(name, "1e400"), "malformed_token"),
        Attack(f"{name}-minus-1e400", _literal(name, "-1e400"), "malformed_token"),
        Attack(f"{name}-nan", _literal(name, "NaN"), "malformed_token"),
        Attack(f"{name}-infinity", _literal(name, "Infinity"), "malformed_token"),
    ]


TIMES = [
    *_times("exp"),
    Attack("exp-missing", _claim("exp", DROP), "missing_claim"),
    Attack("exp-1e308", _claim("exp", 1e308), "lifetime_too_long"),
    # Beyond 64 bits orjson would read a float that is not the number sent: refused as malformed.
    Attack("exp-2-to-the-64", _literal("exp", str(2**64)), "malformed_token"),
    Attack("exp-2-to-the-63", _literal("exp", str(2**63)), "lifetime_too_long"),
    Attack("exp-minus-1e308", _claim("exp", -1e308), "token_expired"),
    Attack("exp-zero", _claim("exp", 0), "token_expired"),
    *_times("nbf"),
    Attack("nbf-1e308", _claim("nbf", 1e308), "token_not_yet_valid"),
    Attack("nbf-2-to-the-64", _literal("nbf", str(2**64)), "malformed_token"),
    *_times("iat"),
    Attack("iat-1e308", _claim("iat", 1e308), "issued_in_future"),
    Attack("iat-minus-1e308", _claim("iat", -1e308), "lifetime_too_long"),
]

TYPES = [
    Attack("aud-number", _claim("aud", 443), "invalid_claim"),
    Attack("aud-true", _claim("aud", True), "invalid_claim"),
    Attack("aud-object", lambda f: f.token(f.claims(aud={"aud": f.audience})), "invalid_claim"),
    Attack("aud-list-with-number", lambda f: f.token(f.claims(aud=[f.audience, 1])), "invalid_claim"),
    Attack("aud-list-with-null", lambda f: f.token(f.claims(aud=[f.audience, None])), "invalid_claim"),
    Attack("aud-list-with-object", lambda f: f.token(f.claims(aud=[f.audience, {}])), "invalid_claim"),
    Attack("aud-nested-list", lambda f: f.token(f.claims(aud=[[f.audience]])), "invalid_claim"),
    Attack("aud-empty-list", _claim("aud", []), "invalid_claim"),
    Attack("aud-null", _claim("aud", None), "missing_claim"),
    Attack("aud-missing", _claim("aud", DROP), "missing_claim"),
    Attack("aud-empty", _claim("aud", ""), "invalid_audience"),
    Attack("iss-number", _claim("iss", 5), "missing_claim"),
    Attack("iss-null", _claim("iss", None), "missing_claim"),
    Attack("iss-true", _claim("iss", True), "missing_claim"),
    Attack("iss-list", lambda f: f.token(f.claims(iss=[f.org_a])), "missing_claim"),
    Attack("iss-object", lambda f: f.token(f.claims(iss={"id": f.org_a})), "missing_claim"),
    Attack("iss-empty", _claim("iss", ""), "missing_claim"),
    Attack("iss-missing", _claim("iss", DROP), "missing_claim"),
    Attack("sub-number", _claim("sub", 5), "invalid_claim"),
    Attack("sub-true", _claim("sub", True), "invalid_claim"),
    Attack("sub-list", _claim("sub", ["ada@example.com"]), "invalid_claim"),
    Attack("sub-object", _claim("sub", {"name": "ada@example.com"}), "invalid_claim"),
    Attack("sub-null", _claim("sub", None), "missing_claim"),
    Attack("sub-empty", _claim("sub", ""), "missing_claim"),
    Attack("sub-too-long", _claim("sub", "a" * 256 + "@example.com"), "invalid_claim"),
    Attack("jti-number", _claim("jti", 12345), "invalid_claim"),
    Attack("jti-float", _claim("jti", 1.5), "invalid_claim"),
    Attack("jti-true", _claim("jti", True), "invalid_claim"),
    Attack("jti-list", _claim("jti", ["a", "b"]), "invalid_claim"),
    Attack("jti-object", _claim("jti", {"id": "a"}), "invalid_claim"),
    Attack("org_id-number", _claim("org_id", 5), "invalid_claim"),
    Attack("org_id-list", lambda f: f.token(f.claims(org_id=[f.org_a])), "invalid_claim"),
    Attack("scope-number", _claim("scope", 1), "invalid_claim"),
]


def _aud(name: str, change: Callable[[str], str]) -> Attack:
    return Attack(f"aud-{name}", lambda f: f.token(f.claims(aud=change(f.audience))), "invalid_audience")


AUDIENCE = [
    _aud("trailing-slash", lambda aud: aud + "/"),
    _aud("uppercase", lambda aud: aud.upper()),
    _aud("scheme-uppercase", lambda aud: aud.replace("http", "HTTP", 1)),
    _aud("prefix", lambda aud: aud[:-1]),
    _aud("path-prefix", lambda aud: aud.rsplit("/", 1)[0]),
    _aud("suffix", lambda aud: aud + "x"),
    _aud("query", lambda aud: aud + "?aud=1"),
    _aud("fragment", lambda aud: aud + "#"),
    _aud("dot-segment", lambda aud: aud.replace("/token", "/x/../token")),
    _aud("percent-encoded", lambda aud: aud.replace("token", "%74oken")),
    _aud("userinfo", lambda aud: aud.replace("://", "://attacker@")),
    _aud("other-scheme", lambda aud: aud.replace("://", "s://", 1) if aud.startswith("http:") else "http" + aud[5:]),
    _aud("leading-space", lambda aud: " " + aud),
    _aud("trailing-space", lambda aud: aud + " "),
    _aud("trailing-newline", lambda aud: aud + "\n"),
    _aud("tab", lambda aud: aud + "\t"),
    _aud("homoglyph", lambda aud: aud.replace("o", "\u043e", 1)),
    Attack(
        "aud-list-of-near-misses",
        lambda f: f.token(f.claims(aud=[f.audience + "/", f.audience.upper()])),
        "invalid_audience",
    ),
    Attack("aud-salesforce-login", _claim("aud", "https://login.salesforce.com"), "invalid_audience"),
]


def _iss(name: str, change: Build) -> Attack:
    return Attack(f"iss-{name}", lambda f: f.token(f.claims(iss=change(f))), "unknown_issuer")


def _key_iss(name: str, change: Callable[[str], str]) -> Attack:
    """A near miss of consumer key X (an issuer of org A), naming org A in ``org_id``."""
    return Attack(f"iss-{name}", lambda f: f.token(f.claims(iss=change(f.app_x), org_id=f.org_a)), "unknown_issuer")


def _recased15(org_id: str) -> str:
    """The 15-character id with its letters' case flipped: another org (15-character ids are case-sensitive)."""
    base = ids.to15(org_id)
    return base[:3] + base[3:].swapcase()


ISSUER = [
    _iss("trailing-space", lambda f: f.org_a + " "),
    _iss("leading-space", lambda f: " " + f.org_a),
    _iss("trailing-newline", lambda f: f.org_a + "\n"),
    _iss("prefix", lambda f: f.org_a[:17]),
    _iss("suffix", lambda f: f.org_a + "A"),
    _iss("url", lambda f: "https://login.salesforce.com"),
    _iss("lowercase-key-prefix-15", lambda f: ids.to15(f.org_a).lower()),
    _iss("recased-15-another-org", lambda f: _recased15(f.org_a)),
    _iss("recased-18-another-org", lambda f: ids.to18(_recased15(f.org_a))),
    _iss("mixed-case-disagreeing-with-suffix", lambda f: f.org_a[:11] + f.org_a[11:15].swapcase() + f.org_a[15:]),
    _iss("wrong-suffix", lambda f: f.org_a[:15] + "AAA"),
    _key_iss("consumer-key-uppercase", lambda key: key.upper()),
    _key_iss("consumer-key-lowercase", lambda key: key.lower()),
    _key_iss("consumer-key-trailing-space", lambda key: key + " "),
    _key_iss("consumer-key-prefix", lambda key: key[:-1]),
    _key_iss("consumer-key-suffix", lambda key: key + "x"),
    # A consumer key as issuer must name its org; these name another one than org A.
    Attack(
        "org_id-recased-15-another-org",
        lambda f: f.token(f.claims(iss=f.app_x, org_id=_recased15(f.org_a))),
        "unknown_issuer",
    ),
    Attack("org_id-missing-with-consumer-key", lambda f: f.token(f.claims(iss=f.app_x)), "missing_claim"),
    Attack(
        "org_id-mixed-case-disagreeing",
        lambda f: f.token(f.claims(iss=f.app_x, org_id=f.org_a[:11] + f.org_a[11:15].swapcase() + f.org_a[15:])),
        "invalid_claim",
    ),
]

ATTACKS = [*TIMES, *TYPES, *AUDIENCE, *ISSUER]


@pytest.mark.parametrize("attack", params(ATTACKS))
def test_refused_by_the_core(library: Library, attack: Attack) -> None:
    library.refuse(attack.build(library.forge), attack.code)


@pytest.mark.parametrize("attack", params(ATTACKS))
def test_refused_at_the_token_endpoint(http: Target, attack: Attack) -> None:
    http.refused_at_token_endpoint(attack.build(http.forge), attack.code)


@pytest.mark.parametrize("attack", params(one_per_code(ATTACKS)))
def test_refused_at_the_api(http: Target, attack: Attack) -> None:
    http.refused_at_api(attack.build(http.forge), attack.code)


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda org: ids.to15(org), id="15-characters"),
        pytest.param(lambda org: org.lower(), id="18-case-folded-lower"),
        pytest.param(lambda org: org.upper(), id="18-case-folded-upper"),
        pytest.param(lambda org: org[:15] + org[15:].lower(), id="18-lowercase-suffix"),
    ],
)
def test_other_spellings_of_the_same_id_name_the_same_org(library: Library, spelling: Callable[[str], str]) -> None:
    """By design (forcegate.core.ids): these are org A's own id, so they are org A, never another org."""
    forge = library.forge
    verified = library.verify(forge.token(forge.claims(iss=spelling(forge.org_a))), MemoryReplay())
    assert verified.identity.org_id == forge.org_a
    assert verified.org.org_id == forge.org_a
