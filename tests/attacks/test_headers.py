"""Header parameters that try to steer the verifier: embedded keys (jwk, jku, x5u, x5c), a hostile
``kid``, and ``crit`` in all its forms.

Keys come only from the registry: a key or certificate in the header is never trusted, and a URL in it
is never fetched (the ``no_outbound`` fixture fails any connection). A ``kid`` is only compared, never
a path, a query or a command. ``crit`` names extensions forcegate must understand; it understands none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from attacks.forge import Attack, Build, Forge, der_b64, one_per_code, params, public_jwk, x5t_s256
from attacks.harness import Library, Target
from core.assertion_support import MemoryReplay
from helpers import b64url


def _attacker(header: Callable[[Forge], dict[str, Any]]) -> Build:
    """Signed RS256 by the attacker's key, claiming to be org A, with ``header(forge)`` as header."""
    return lambda forge: forge.token(header={"alg": "RS256", **header(forge)}, key=forge.attacker)


def _org(header: dict[str, Any]) -> Build:
    """Org A's own signature: only the header parameter is wrong."""
    return lambda forge: forge.token(header={"alg": "RS256", **header})


EMBEDDED_KEYS = [
    Attack("jwk-attacker", _attacker(lambda f: {"jwk": public_jwk(f.attacker)}), "invalid_signature"),
    Attack("jwk-org-a-key", _attacker(lambda f: {"jwk": public_jwk(f.key_a)}), "invalid_signature"),
    Attack("jku-loopback", _attacker(lambda f: {"jku": f.canary}), "invalid_signature"),
    Attack("jku-remote", _attacker(lambda f: {"jku": "https://attacker.example/jwks.json"}), "invalid_signature"),
    Attack("jku-with-kid", _attacker(lambda f: {"jku": f.canary, "kid": "attacker-1"}), "invalid_signature"),
    Attack("x5u-loopback", _attacker(lambda f: {"x5u": f.canary}), "invalid_signature"),
    Attack("x5u-remote", _attacker(lambda f: {"x5u": "https://attacker.example/cert.pem"}), "invalid_signature"),
    Attack("x5c-attacker-cert", _attacker(lambda f: {"x5c": [der_b64(f.attacker_cert)]}), "invalid_signature"),
    Attack(
        "x5c-attacker-chained-to-org-a",
        _attacker(lambda f: {"x5c": [der_b64(f.attacker_cert), der_b64(f.cert_a)]}),
        "invalid_signature",
    ),
    Attack("x5c-org-a-cert", _attacker(lambda f: {"x5c": [der_b64(f.cert_a)]}), "invalid_signature"),
    Attack(
        "x5c-and-x5t-of-attacker-cert",
        _attacker(lambda f: {"x5c": [der_b64(f.attacker_cert)], "x5t#S256": x5t_s256(f.attacker_cert)}),
        "key_not_found",
    ),
    Attack("x5t-of-org-a-cert", _attacker(lambda f: {"x5t#S256": x5t_s256(f.cert_a)}), "invalid_signature"),
    Attack(
        "every-embedded-key-at-once",
        _attacker(
            lambda f: {
                "jwk": public_jwk(f.attacker),
                "jku": f.canary,
                "x5u": f.canary,
                "x5c": [der_b64(f.attacker_cert)],
                "kid": "attacker",
            }
        ),
        "invalid_signature",
    ),
]


def _kid_text(name: str, kid: str | Callable[[Forge], str]) -> Attack:
    return Attack(f"kid-{name}", _attacker(lambda f: {"kid": kid(f) if callable(kid) else kid}), "invalid_signature")


KID = [
    _kid_text("path-traversal", "../../etc/passwd"),
    _kid_text("path-traversal-deep", "../../../../../../../../dev/null"),
    _kid_text("absolute-path", "/dev/null"),
    _kid_text("file-url", "file:///etc/passwd"),
    _kid_text("sql-or", "' OR 1=1 --"),
    _kid_text("sql-union", "x' UNION SELECT sha256_fingerprint FROM certificates --"),
    _kid_text("sql-drop", "'; DROP TABLE certificates; --"),
    _kid_text("shell-subst", lambda f: f"$(touch {f.marker})"),
    _kid_text("shell-backticks", lambda f: f"`touch {f.marker}`"),
    _kid_text("shell-semicolon", "; rm -rf /"),
    _kid_text("shell-pipe", lambda f: f"| touch {f.marker}"),
    _kid_text("newline-log-injection", "x\nallowed jwt-bearer /oauth2/token org=00D5g000004ABCDEA4 code=ok"),
    _kid_text("nul", "forcegate_cert\x00../../etc/passwd"),
    _kid_text("empty", ""),
    _kid_text("very-long", "k" * 8000),
    _kid_text("org-a-thumbprint", lambda f: x5t_s256(f.cert_a)),
    Attack("kid-too-long-for-a-token", _attacker(lambda f: {"kid": "k" * 20000}), "token_too_large"),
    # Wrong types, signed by org A itself: the type alone is refused.
    Attack("kid-int", _org({"kid": 1}), "malformed_token"),
    Attack("kid-float", _org({"kid": 1.5}), "malformed_token"),
    Attack("kid-true", _org({"kid": True}), "malformed_token"),
    Attack("kid-null", _org({"kid": None}), "malformed_token"),
    Attack("kid-list", _org({"kid": ["forcegate_cert"]}), "malformed_token"),
    Attack("kid-object", _org({"kid": {"$ne": ""}}), "malformed_token"),
    Attack("x5t-S256-int", _org({"x5t#S256": 1}), "malformed_token"),
]


CRIT = [
    Attack("crit-unknown-name", _org({"crit": ["exp"]}), "unsupported_crit"),
    Attack("crit-unknown-present", _org({"crit": ["urn:example:ext"], "urn:example:ext": True}), "unsupported_crit"),
    Attack("crit-empty-list", _org({"crit": []}), "unsupported_crit"),
    Attack("crit-string", _org({"crit": "alg"}), "unsupported_crit"),
    Attack("crit-object", _org({"crit": {"alg": True}}), "unsupported_crit"),
    Attack("crit-number", _org({"crit": 1}), "unsupported_crit"),
    Attack("crit-null", _org({"crit": None}), "unsupported_crit"),
    Attack("crit-true", _org({"crit": True}), "unsupported_crit"),
    Attack("crit-standard-alg", _org({"crit": ["alg"]}), "unsupported_crit"),
    Attack("crit-standard-kid", _org({"crit": ["kid"], "kid": "forcegate_cert"}), "unsupported_crit"),
    Attack("crit-absent-name", _org({"crit": ["urn:example:absent"]}), "unsupported_crit"),
    Attack(
        "crit-duplicates",
        _org({"crit": ["urn:example:ext", "urn:example:ext"], "urn:example:ext": 1}),
        "unsupported_crit",
    ),
    Attack("crit-b64-false", _org({"crit": ["b64"], "b64": False}), "unsupported_crit"),
    Attack("b64-false-without-crit", _org({"b64": False}), "unsupported_crit"),
    Attack("b64-true-without-crit", _org({"b64": True}), "unsupported_crit"),
]

ATTACKS = [*EMBEDDED_KEYS, *KID, *CRIT]


@pytest.mark.parametrize("attack", params(ATTACKS))
def test_refused_by_the_core(library: Library, attack: Attack) -> None:
    library.refuse(attack.build(library.forge), attack.code)


@pytest.mark.parametrize("attack", params(ATTACKS))
def test_refused_at_the_token_endpoint(http: Target, attack: Attack) -> None:
    http.refused_at_token_endpoint(attack.build(http.forge), attack.code)


@pytest.mark.parametrize("attack", params(one_per_code(ATTACKS)))
def test_refused_at_the_api(http: Target, attack: Attack) -> None:
    http.refused_at_api(attack.build(http.forge), attack.code)


def test_a_kid_naming_no_key_still_needs_a_trusted_signature(library: Library) -> None:
    """The kid only narrows the candidates when a trusted key has it; it never adds a key."""
    forge = library.forge
    token = forge.token(header={"alg": "RS256", "kid": "forcegate_cert", "jwk": public_jwk(forge.attacker)})
    assert library.verify(token, MemoryReplay()).identity.org_id == forge.org_a  # org A's signature: fine
    forged = forge.token(header={"alg": "RS256", "kid": "forcegate_cert"}, key=forge.attacker)
    assert library.refuse(forged, "invalid_signature").verified is False


def test_an_unsigned_header_change_breaks_the_signature(library: Library) -> None:
    """Swapping the header of org A's own token (to add a jku, drop crit …) invalidates its signature."""
    forge = library.forge
    head, payload, signature = forge.token().split(".")
    swapped = b64url(b'{"alg":"RS256","jku":"' + forge.canary.encode() + b'"}')
    library.refuse(f"{swapped}.{payload}.{signature}", "invalid_signature")
    assert head != swapped
