"""Canvas signed-request verification: the order of checks and every way to fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forcegate.core.canvas import (
    CANVAS_ALGORITHM,
    DEFAULT_MAX_BYTES,
    CanvasVerifier,
    hmac_sha256_matches,
    verify_signed_request,
)
from forcegate.core.canvas_request import CanvasRequest
from forcegate.devtools.canvas_signer import build_envelope, sign_envelope, sign_payload
from forcegate.errors import (
    CanvasAlgorithmMismatch,
    CanvasError,
    CanvasSignatureInvalid,
    ConfigurationError,
    MalformedSignedRequest,
    SignedRequestTooLarge,
)

SECRET = "7D3C1A0B9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F"
PREVIOUS = "previous-consumer-secret"
TOKEN = "00Dx00000001hxy!AQ4AQTestSessionTokenThatMustNeverLeak"
ORG = "00Dx00000001hxy"
USER = "005x0000001SyyE"


def envelope(**overrides: Any) -> dict[str, Any]:
    data = build_envelope(org_id=ORG, user_id=USER, oauth_token=TOKEN, parameters={"orderId": "A-1"}, now=1.7e9)
    data.update(overrides)
    return data


def hmac_b64(secret: str, message: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


@pytest.fixture
def verifier() -> CanvasVerifier:
    return CanvasVerifier([SECRET])


# --- success and rotation ------------------------------------------------------------------------


def test_round_trip(verifier: CanvasVerifier) -> None:
    request = verifier.verify(sign_envelope(envelope(), SECRET))
    assert request.algorithm == "HMACSHA256"
    assert request.user_id == "005x0000001SyyEAAS"
    assert request.organization_id == "00Dx00000001hxyEAA"
    assert request.parameters == {"orderId": "A-1"}
    assert request.client.oauth_token == TOKEN
    assert request.secret_index == 0
    assert request.issued_at == 1_700_000_000


def test_bytes_input(verifier: CanvasVerifier) -> None:
    assert verifier.verify(sign_envelope(envelope(), SECRET).encode()).user_id == "005x0000001SyyEAAS"


def test_rotation_reports_which_secret_matched() -> None:
    rotating = CanvasVerifier([SECRET, PREVIOUS.encode()])
    assert rotating.verify(sign_envelope(envelope(), SECRET)).secret_index == 0
    assert rotating.verify(sign_envelope(envelope(), PREVIOUS)).secret_index == 1
    with pytest.raises(CanvasSignatureInvalid, match="none of the 1 configured"):
        CanvasVerifier([SECRET]).verify(sign_envelope(envelope(), PREVIOUS))


def test_one_shot_function() -> None:
    signed = sign_envelope(envelope(), SECRET)
    assert verify_signed_request(signed, [PREVIOUS, SECRET]).secret_index == 1
    with pytest.raises(SignedRequestTooLarge):
        verify_signed_request(signed, [SECRET], max_bytes=100)


def test_independently_computed_signature_verifies(verifier: CanvasVerifier) -> None:
    # What the Guide's "Verifying and Decoding a Signed Request" describes, written without forcegate.
    payload = base64.b64encode(json.dumps(envelope()).encode()).decode()
    assert verifier.verify(f"{hmac_b64(SECRET, payload)}.{payload}").user_id == "005x0000001SyyEAAS"


# --- structure -------------------------------------------------------------------------------------


def test_size_limit_is_checked_first() -> None:
    signed = sign_envelope(envelope(), SECRET)
    exact = CanvasVerifier([SECRET], max_bytes=len(signed))
    assert exact.verify(signed).user_id == "005x0000001SyyEAAS"
    with pytest.raises(SignedRequestTooLarge, match=f"{len(signed)} bytes; the limit is {len(signed) - 1}"):
        CanvasVerifier([SECRET], max_bytes=len(signed) - 1).verify(signed)
    # Even junk that would fail every later check is refused for its size alone.
    with pytest.raises(SignedRequestTooLarge):
        CanvasVerifier([SECRET], max_bytes=10).verify("\u00e9" * 11)
    assert DEFAULT_MAX_BYTES == 256 * 1024


@pytest.mark.parametrize(
    ("signed_request", "reason"),
    [
        ("no-dot-here", "no '.'"),
        (".payload", "empty signature"),
        ("signature.", "empty payload"),
        ("", "no '.'"),
        ("sig!nature.payload", "signature is not base64"),
        ("caf\u00e9.payload", "signature is not base64"),
        ("signature.caf\u00e9", "non-ASCII"),
    ],
)
def test_malformed_structure(verifier: CanvasVerifier, signed_request: str, reason: str) -> None:
    with pytest.raises(MalformedSignedRequest, match=reason):
        verifier.verify(signed_request)


def test_non_ascii_bytes_input(verifier: CanvasVerifier) -> None:
    with pytest.raises(MalformedSignedRequest, match="non-ASCII"):
        verifier.verify(b"\xff\xfe.payload")


@pytest.mark.parametrize("value", [None, 42, bytearray(b"a.b"), ["a.b"]])
def test_wrong_input_type(verifier: CanvasVerifier, value: Any) -> None:
    with pytest.raises(MalformedSignedRequest, match="not str or bytes"):
        verifier.verify(value)


def test_split_on_the_first_dot(verifier: CanvasVerifier) -> None:
    # Base64 has no ".", so everything after the first one is the payload, and the HMAC covers all
    # of it: a signature over "payload.extra" verifies, and then the payload is not base64.
    payload = base64.b64encode(json.dumps(envelope()).encode()).decode() + ".extra"
    with pytest.raises(MalformedSignedRequest, match="payload is not base64"):
        verifier.verify(f"{hmac_b64(SECRET, payload)}.{payload}")
    # A verifier splitting on the last "." would take "sig.payload" as the signature.
    sig, body = sign_envelope(envelope(), SECRET).split(".")
    with pytest.raises(CanvasSignatureInvalid):
        verifier.verify(f"{sig}.{body}.{body}")


# --- signature -------------------------------------------------------------------------------------


def test_wrong_secret_and_tampering(verifier: CanvasVerifier) -> None:
    with pytest.raises(CanvasSignatureInvalid):
        verifier.verify(sign_envelope(envelope(), "another-secret"))
    sig, _ = sign_envelope(envelope(), SECRET).split(".")
    _, forged = sign_envelope(envelope(userId="005000000000001"), SECRET).split(".")
    with pytest.raises(CanvasSignatureInvalid):
        verifier.verify(f"{sig}.{forged}")


@pytest.mark.parametrize("size", [0, 1, 16, 20, 31, 33, 64])
def test_tag_of_wrong_length_is_a_mismatch(verifier: CanvasVerifier, size: int) -> None:
    sig, payload = sign_envelope(envelope(), SECRET).split(".")
    tag = (base64.b64decode(sig) * 3)[:size]  # a truncated tag is a prefix of the right one: still refused
    encoded = base64.b64encode(tag).decode() or "===="
    with pytest.raises(CanvasSignatureInvalid, match=f"signature is {size} bytes; an HMAC-SHA256 tag is 32"):
        verifier.verify(f"{encoded}.{payload}")


def test_signature_is_decoded_leniently(verifier: CanvasVerifier) -> None:
    sig, payload = sign_envelope(envelope(), SECRET).split(".")
    url_safe_unpadded = sig.replace("+", "-").replace("/", "_").rstrip("=")
    assert verifier.verify(f"{url_safe_unpadded}.{payload}").user_id == "005x0000001SyyEAAS"


def test_hmac_is_over_the_payload_exactly_as_received(verifier: CanvasVerifier) -> None:
    padded = next(s for n in range(3) if (s := sign_envelope(envelope(pad="x" * n), SECRET)).endswith("="))
    sig, payload = padded.split(".")
    # Same JSON, re-encoded without padding / URL-safe: the signature over the original no longer fits.
    with pytest.raises(CanvasSignatureInvalid):
        verifier.verify(f"{sig}.{payload.rstrip('=')}")
    # But a payload *signed* unpadded and URL-safe is decoded leniently.
    text = json.dumps(envelope()).encode()
    odd = base64.urlsafe_b64encode(text).decode().rstrip("=")
    assert verifier.verify(f"{hmac_b64(SECRET, odd)}.{odd}").user_id == "005x0000001SyyEAAS"


def test_hmac_primitive() -> None:
    key, message = b"key", b"message"
    tag = hmac.new(key, message, hashlib.sha256).digest()
    assert hmac_sha256_matches(key, message, tag)
    assert not hmac_sha256_matches(key, message, tag[:16])
    assert not hmac_sha256_matches(key, message, tag + b"\x00")
    assert not hmac_sha256_matches(key, message + b"!", tag)
    assert not hmac_sha256_matches(b"other", message, tag)


# --- payload and algorithm -------------------------------------------------------------------------


def test_algorithm_is_pinned_by_configuration(verifier: CanvasVerifier) -> None:
    with pytest.raises(CanvasAlgorithmMismatch, match="'HMACSHA1' is not the configured 'HMACSHA256'"):
        verifier.verify(sign_envelope(envelope(algorithm="HMACSHA1"), SECRET))
    without = envelope()
    del without["algorithm"]
    with pytest.raises(CanvasAlgorithmMismatch, match="no algorithm"):
        verifier.verify(sign_envelope(without, SECRET))
    with pytest.raises(CanvasAlgorithmMismatch, match=r"\.\.\."):  # long values are shortened
        verifier.verify(sign_envelope(envelope(algorithm="A" * 500), SECRET))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not acceptable JSON"),
        (b"[1, 2, 3]", "payload JSON is list, expected an object"),
        (b'"HMACSHA256"', "payload JSON is str"),
        (b'{"algorithm": NaN}', "not acceptable JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "not acceptable JSON: depth limit exceeded"),
        (b'{"a": ' + b"9" * 5000 + b"}", "not acceptable JSON"),
        (b'{"a": 1, "a": 2}', "duplicate JSON member 'a'"),
        (b'{"context": {"organization": {"organizationId": "x", "organizationId": "y"}}}', "duplicate JSON member"),
    ],
)
def test_undecodable_payloads(payload: bytes, reason: str) -> None:
    verifier = CanvasVerifier([SECRET], max_bytes=1_000_000)
    with pytest.raises(MalformedSignedRequest, match=reason):
        verifier.verify(sign_payload(payload, SECRET))


def test_payload_with_non_ascii_bytes(verifier: CanvasVerifier) -> None:
    payload = "é".encode()
    tag = base64.b64encode(hmac.new(SECRET.encode(), payload, hashlib.sha256).digest())
    with pytest.raises(MalformedSignedRequest, match="non-ASCII"):
        verifier.verify(tag + b"." + payload)


# --- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secrets", "options", "reason"),
    [
        ([], {}, "at least one"),
        ([""], {}, "secret #0 is empty"),
        ([SECRET, b""], {}, "secret #1 is empty"),
        (SECRET, {}, "not a single secret"),
        (SECRET.encode(), {}, "not a single secret"),
        ([42], {}, "secret #0 is int"),
        ([SECRET], {"algorithm": "HMACSHA1"}, "'HMACSHA1' is not supported"),
        ([SECRET], {"algorithm": "hmacsha256"}, "not supported"),
        ([SECRET], {"max_bytes": 0}, "positive integer"),
        ([SECRET], {"max_bytes": True}, "positive integer"),
    ],
)
def test_configuration_errors(secrets: Any, options: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        CanvasVerifier(secrets, **options)


def test_verifier_repr_hides_secrets() -> None:
    verifier = CanvasVerifier([SECRET, PREVIOUS])
    assert SECRET not in repr(verifier)
    assert PREVIOUS not in repr(verifier)
    assert repr(verifier) == "CanvasVerifier(secrets=<2 hidden>, algorithm='HMACSHA256', max_bytes=262144)"
    assert verifier.secret_count == 2
    assert verifier.algorithm == CANVAS_ALGORITHM
    assert verifier.max_bytes == DEFAULT_MAX_BYTES


def test_no_secret_or_token_in_any_error(verifier: CanvasVerifier) -> None:
    signed = sign_envelope(envelope(), SECRET)
    sig, payload = signed.split(".")
    attempts = [
        signed[:-4],
        f"{sig[:-8]}AAAAAAA=.{payload}",
        sign_envelope(envelope(), PREVIOUS),
        sign_envelope(envelope(algorithm="X"), SECRET),
        sign_envelope(envelope(userId="0050000000000AA"), SECRET),
        sign_envelope(envelope(client={"oauthToken": 5, "instanceUrl": TOKEN}), SECRET),
        sign_payload(json.dumps({"algorithm": "HMACSHA256", "client": {"oauthToken": TOKEN}}).encode(), SECRET),
    ]
    for attempt in attempts:
        with pytest.raises(CanvasError) as caught:
            verifier.verify(attempt)
        message = f"{caught.value} {caught.value.reason!r} {caught.value.args!r}"
        assert SECRET not in message
        assert TOKEN not in message


# --- fuzzing ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def outcome(verifier: CanvasVerifier, signed_request: str | bytes) -> CanvasRequest | CanvasError:
    """The request, or the CanvasError; any other exception propagates and fails the test."""
    try:
        return verifier.verify(signed_request)
    except CanvasError as exc:
        return exc


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_input_raises_only_canvas_errors(junk: str | bytes) -> None:
    result = outcome(CanvasVerifier([SECRET]), junk)
    # Forging HMAC-SHA256 by chance is not going to happen: junk is always refused, with a reason.
    assert isinstance(result, CanvasError)
    assert result.reason


@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_signed_payloads_raise_only_canvas_errors(payload: bytes) -> None:
    result = outcome(CanvasVerifier([SECRET]), sign_payload(payload, SECRET))
    if isinstance(result, CanvasError):
        assert result.reason
    else:
        assert result.algorithm == CANVAS_ALGORITHM


SECTIONS = [
    (),
    ("context",),
    ("client",),
    ("context", "user"),
    ("context", "organization"),
    ("context", "application"),
    ("context", "environment"),
    ("context", "links"),
    ("context", "environment", "parameters"),
]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SECTIONS),
    st.sampled_from(["userId", "organizationId", "options", "algorithm", "userName", "subLocation"])
    | st.text(max_size=9),
    json_values,
)
def test_mutated_envelopes_raise_only_canvas_errors(path: tuple[str, ...], key: str, value: Any) -> None:
    data = envelope()
    section: Any = data
    for step in path:
        section = section[step]
    section[key] = value
    request = outcome(CanvasVerifier([SECRET]), sign_envelope(data, SECRET))
    if isinstance(request, CanvasError):
        assert request.reason
        return
    # Every view builds without error once verify() has accepted the envelope.
    assert request.user.user_id == request.user_id
    assert request.organization.organization_id == request.organization_id
    assert isinstance(request.client.instance_url, str | None)
    assert isinstance(request.application.options, tuple)
    assert all(isinstance(v, str) for v in request.links.values())
    assert request.environment.parameters == request.parameters
    assert request.raw == data
