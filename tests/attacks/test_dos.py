"""Work an unauthenticated sender can demand is bounded, and one input has one meaning.

* Size: a signed request over the Canvas limit (decision 0004: 256 KB) is refused before its HMAC is
  computed; a token over 16 KB before it is parsed; a body over the endpoint's limit while it is read.
* Nesting: JSON nested past the parsers' depth is a clean refusal, never a crash.
* Duplicate members: two ``exp``, two ``alg``, two ``organizationId`` are refused (RFC 7515 §5.2,
  RFC 7519 §4), so no other parser can read another value out of the same bytes.
* Type: an access token (``typ: at+jwt``) is never taken for an assertion (RFC 8725 §3.11).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from attacks.forge import Attack, Build, Forge, one_per_code, params
from attacks.harness import Library, Target
from forcegate.core import canvas as canvas_module
from forcegate.core.canvas import DEFAULT_MAX_BYTES, CanvasVerifier
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.devtools.canvas_signer import sign_payload
from forcegate.errors import MalformedSignedRequest, SignedRequestTooLarge
from server.live import USER_ID

# --- tokens ------------------------------------------------------------------------------------------


def _header(extra: str) -> Build:
    """Org A's signature under the header ``{"alg":"RS256",<extra>}``, spelled exactly."""
    return lambda f: f.raw(b'{"alg":"RS256",' + extra.encode() + b"}", f.claims_json())


def _claims(build: Callable[[Forge], bytes]) -> Build:
    """Org A's signature over exactly the claims bytes ``build(forge)``."""
    return lambda f: f.raw(b'{"alg":"RS256"}', build(f))


def _spliced(name: str, value: str, *, first: bool) -> Callable[[Forge], bytes]:
    """Valid claims plus a second ``name`` member spelled ``value``, before or after the real one."""

    def build(forge: Forge) -> bytes:
        body = forge.claims_json()[1:-1]
        member = f'"{name}":{value}'.encode()
        return b"{" + (member + b"," + body if first else body + b"," + member) + b"}"

    return build


def _nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


SIZE = [
    Attack("token-over-16k", lambda f: f.token(f.claims(pad="x" * 16_500)), "token_too_large"),
    Attack("header-over-16k", lambda f: f.token(header={"alg": "RS256", "pad": "x" * 16_500}), "token_too_large"),
    Attack(
        "header-of-1000-members-by-attacker",
        lambda f: f.token(header={"alg": "RS256", **{f"h{i}": i for i in range(1000)}}, key=f.attacker),
        "invalid_signature",
    ),
    Attack("5000-segments", lambda f: ".".join([f.token()] * 5000)[:15_000], "malformed_token"),
]

NESTING = [
    Attack("header-nested-arrays-5000", _header('"x":' + _nested(5000)), "malformed_token"),
    Attack("header-nested-objects-1500", _header('"x":' + '{"a":' * 1500 + "1" + "}" * 1500), "malformed_token"),
    Attack(
        "claims-nested-arrays-5000",
        _claims(lambda f: f.claims_json()[:-1] + b',"params":' + _nested(5000).encode() + b"}"),
        "malformed_token",
    ),
    Attack(
        "claims-nested-objects-1500",
        _claims(lambda f: f.claims_json()[:-1] + b',"params":' + b'{"a":' * 1500 + b"1" + b"}" * 1500 + b"}"),
        "malformed_token",
    ),
]

DUPLICATES = [
    Attack("two-exp-far-first", _claims(_spliced("exp", "9999999999", first=True)), "malformed_token"),
    Attack("two-exp-far-last", _claims(_spliced("exp", "9999999999", first=False)), "malformed_token"),
    Attack("two-iss", _claims(_spliced("iss", '"00D5g000004XYZWEA4"', first=False)), "malformed_token"),
    Attack("two-aud", _claims(_spliced("aud", '"https://attacker.example"', first=True)), "malformed_token"),
    Attack("two-sub", _claims(_spliced("sub", '"admin@example.com"', first=False)), "malformed_token"),
    Attack("two-jti", _claims(_spliced("jti", '"again"', first=False)), "malformed_token"),
    Attack("two-exp-escaped-name", _claims(_spliced("e\\u0078p", "9999999999", first=False)), "malformed_token"),
    Attack(
        "two-exp-beside-an-escaped-colon",
        _claims(lambda f: _spliced("exp", "9999999999", first=False)(f)[:-1] + b',"x\\u003a":1}'),
        "malformed_token",
    ),
    Attack(
        "two-members-in-params",
        _claims(lambda f: f.claims_json()[:-1] + b',"params":{"tier":1,"tier":2}}'),
        "malformed_token",
    ),
    Attack("two-alg-none-last", _header('"alg":"none"'), "malformed_token"),
    Attack("two-alg-hs256-last", _header('"alg":"HS256"'), "malformed_token"),
    Attack("two-kid", _header('"kid":"a","kid":"b"'), "malformed_token"),
    Attack("two-crit", _header('"crit":["x"],"crit":[]'), "malformed_token"),
]

TYPES = [
    Attack("typ-at+jwt", lambda f: f.token(header={"alg": "RS256", "typ": "at+jwt"}), "unexpected_token_type"),
    Attack("typ-AT+JWT", lambda f: f.token(header={"alg": "RS256", "typ": "AT+JWT"}), "unexpected_token_type"),
    Attack(
        "typ-application-at+jwt",
        lambda f: f.token(header={"alg": "RS256", "typ": "application/at+jwt"}),
        "unexpected_token_type",
    ),
]

ATTACKS = [*SIZE, *NESTING, *DUPLICATES, *TYPES]


@pytest.mark.parametrize("attack", params(ATTACKS))
def test_refused_by_the_core(library: Library, attack: Attack) -> None:
    library.refuse(attack.build(library.forge), attack.code)


@pytest.mark.parametrize("attack", params([*SIZE, *NESTING, *DUPLICATES]))
def test_refused_at_the_token_endpoint(http: Target, attack: Attack) -> None:
    http.refused_at_token_endpoint(attack.build(http.forge), attack.code)


@pytest.mark.parametrize("attack", params(one_per_code([*SIZE, *NESTING, *DUPLICATES])))
def test_refused_at_the_api(http: Target, attack: Attack) -> None:
    http.refused_at_api(attack.build(http.forge), attack.code)


@pytest.mark.parametrize("attack", params(TYPES))
def test_another_token_type_is_refused_at_the_token_endpoint(http: Target, attack: Attack) -> None:
    http.refused_at_token_endpoint(attack.build(http.forge), attack.code)


@pytest.mark.parametrize(
    ("typ", "code"),
    [
        # Routed by its typ to the access-token verifier, which refuses what the service did not sign.
        ("at+jwt", "invalid_access_token"),
        ("AT+JWT", "unexpected_token_type"),
        ("application/at+jwt", "unexpected_token_type"),
    ],
)
def test_another_token_type_is_refused_at_the_api(http: Target, typ: str, code: str) -> None:
    http.refused_at_api(http.forge.token(header={"alg": "RS256", "typ": typ}), code)


def test_our_own_access_token_is_not_an_assertion(http: Target) -> None:
    response = http.token(http.forge.token())
    assert response.status_code == 200, response.text
    http.refused_at_token_endpoint(response.json()["access_token"], "unexpected_token_type")


def test_a_flood_of_junk_writes_a_bounded_number_of_audit_rows(http: Target) -> None:
    """Per client and refusal code, ``audit_unverified_limit`` rows a minute; the rest are counted and
    summed up in one row when the minute is over (forcegate.service.refusal_budget)."""
    limit = http.server.settings.audit_unverified_limit
    assert 0 < limit < http.server.settings.failure_rate_limit  # the flood is not throttled before it ends
    forge = http.forge
    before = http.state()
    for _ in range(limit + 10):
        response = http.token(forge.token(key=forge.attacker))
        assert response.status_code == 400, response.text
    assert http.state().rows == before.rows
    assert http.audit_since(before.audit_id) == [("invalid_signature", "denied", False)] * limit
    http.server.clock.advance(60)
    http.flush()
    [summary] = http.audit_since(before.audit_id)[limit:]
    assert summary == ("invalid_signature", "denied", False)
    detail = http.db.execute("SELECT detail FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert str(detail).startswith("10 more unverified refusals")


@pytest.mark.parametrize("size", [70_000, 200_000])
def test_a_body_over_the_token_endpoints_limit_is_refused_while_read(http: Target, size: int) -> None:
    http.refused_at_token_endpoint("a" * size, "invalid_request")


#: An edit of the envelope's JSON text.
Splice = Callable[[str], str]


# --- Canvas ------------------------------------------------------------------------------------------


def _signed_of_size(forge: Forge, size: int) -> str:
    """A validly signed request (X's secret, org A) of exactly ``size`` characters."""
    # "<44-character base64 tag>.<base64 payload>": the payload's base64 is 4 * ceil(n / 3) long.
    assert (size - 45) % 4 == 0
    envelope = build_envelope(org_id=forge.org_a, user_id=USER_ID, now=forge.now, parameters={"pad": ""})
    empty = len(json.dumps(envelope, separators=(",", ":")).encode())
    envelope["context"]["environment"]["parameters"]["pad"] = "x" * ((size - 45) // 4 * 3 - empty)
    signed = sign_envelope(envelope, forge.secret_x)
    assert len(signed) == size
    return signed


OVER = DEFAULT_MAX_BYTES + 1  # 262,145 = 45 + 4 * 65,525: a size a signed request can have
UNDER = DEFAULT_MAX_BYTES - 3  # the largest size at most the limit that a signed request can have


@pytest.fixture
def hmacs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the HMACs the Canvas verifier computes (in this process: the live server's thread too)."""
    calls: list[int] = []
    real = canvas_module.hmac_sha256_matches

    def counted(key: bytes, message: bytes, tag: bytes) -> bool:
        calls.append(len(message))
        return real(key, message, tag)

    monkeypatch.setattr(canvas_module, "hmac_sha256_matches", counted)
    return calls


def test_an_oversized_signed_request_is_refused_before_its_hmac(library: Library, hmacs: list[int]) -> None:
    verifier = CanvasVerifier([library.forge.secret_x])
    with pytest.raises(SignedRequestTooLarge):
        verifier.verify(_signed_of_size(library.forge, OVER))
    assert hmacs == []
    assert verifier.verify(_signed_of_size(library.forge, UNDER)).organization_id == library.forge.org_a
    assert len(hmacs) == 1  # the same request, 4 bytes smaller, is verified: only the size was wrong


@pytest.mark.parametrize("path", ["/canvas", "/canvas/{x}"])
def test_an_oversized_signed_request_is_refused_over_http(http: Target, hmacs: list[int], path: str) -> None:
    forge = http.forge
    path = path.format(x=forge.app_x)
    http.refused_at_canvas(_signed_of_size(forge, OVER), "signed_request_too_large", status=413, path=path)
    assert hmacs == []
    response = http.canvas(_signed_of_size(forge, UNDER), path)
    assert response.status_code == 303, response.text
    assert hmacs != []


def test_a_canvas_body_over_its_limit_is_refused_while_read(http: Target, hmacs: list[int]) -> None:
    http.refused_at_canvas("a" * (4 * DEFAULT_MAX_BYTES), "signed_request_too_large", status=413)
    assert hmacs == []


def _canvas_json(forge: Forge, splice: Splice) -> str:
    """X's valid signature over the envelope for org A as compact JSON, edited by ``splice`` (text -> text)."""
    envelope = build_envelope(org_id=forge.org_a, user_id=USER_ID, now=forge.now)
    return sign_payload(splice(json.dumps(envelope, separators=(",", ":"))).encode(), forge.secret_x)


def _second_org(forge: Forge, *, first: bool) -> Splice:
    real = f'"organizationId":"{forge.org_a}"'
    other = f'"organizationId":"{forge.org_b}"'
    return lambda text: text.replace(real, f"{other},{real}" if first else f"{real},{other}")


def _prepend(member: str) -> Callable[[Forge], Splice]:
    """A member written before the envelope's own ones (a second ``algorithm``, a second ``userId``)."""
    return lambda forge: lambda text: "{" + member + "," + text[1:]


#: Envelopes X's secret signed that do not have one meaning: how each splices the JSON text.
CANVAS_AMBIGUOUS: dict[str, Callable[[Forge], Splice]] = {
    "two-organizationId-other-first": lambda f: _second_org(f, first=True),
    "two-organizationId-other-last": lambda f: _second_org(f, first=False),
    "two-algorithm": _prepend('"algorithm":"HMACSHA1"'),
    "two-userId": _prepend('"userId":"005000000000000"'),
    "nested-40000-deep": lambda f: lambda text: text[:-1] + ',"deep":' + _nested(40_000) + "}",
}


@pytest.mark.parametrize("case", list(CANVAS_AMBIGUOUS))
def test_an_ambiguous_envelope_is_refused_by_the_core(library: Library, case: str) -> None:
    forge = library.forge
    signed = _canvas_json(forge, CANVAS_AMBIGUOUS[case](forge))
    with pytest.raises(MalformedSignedRequest) as caught:
        CanvasVerifier([forge.secret_x]).verify(signed)
    assert caught.value.verified is True  # X's secret signed it: the sender is known, the request unusable


@pytest.mark.parametrize("path", ["/canvas", "/canvas/{x}"])
@pytest.mark.parametrize("case", list(CANVAS_AMBIGUOUS))
def test_an_ambiguous_envelope_is_refused_over_http(http: Target, case: str, path: str) -> None:
    forge = http.forge
    signed = _canvas_json(forge, CANVAS_AMBIGUOUS[case](forge))
    refusal = http.refused_at_canvas(signed, "malformed_signed_request", status=401, path=path.format(x=forge.app_x))
    assert refusal.audit == [("malformed_signed_request", "denied", True)]


def test_compact_is_what_the_signer_writes(library: Library) -> None:
    """The splices above edit the JSON as sign_envelope writes it (compact): a no-op splice verifies."""
    forge = library.forge
    request = CanvasVerifier([forge.secret_x]).verify(_canvas_json(forge, lambda text: text))
    assert request.organization_id == forge.org_a
