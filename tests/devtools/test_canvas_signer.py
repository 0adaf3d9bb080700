"""The org's side of Canvas: envelopes shaped like Salesforce's, signed the way it signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from forcegate.core.canvas import verify_signed_request
from forcegate.devtools.canvas_signer import build_envelope, sign_envelope, sign_payload
from forcegate.errors import ConfigurationError, InvalidSalesforceId

SECRET = "signer-test-consumer-secret"
ORG = "00Dx00000001hxy"
USER = "005x0000001SyyE"


def test_signature_is_base64_hmac_of_the_base64_payload_string() -> None:
    envelope = {"algorithm": "HMACSHA256", "b": [1, 2], "a": "é"}
    signed = sign_envelope(envelope, SECRET)
    signature, payload = signed.split(".")
    expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()
    assert base64.b64decode(signature, validate=True) == expected
    assert len(payload) % 4 == 0  # standard base64 keeps its padding
    decoded = base64.b64decode(payload, validate=True)
    # Compact JSON in the given key order, non-ASCII as UTF-8 rather than \\u escapes.
    assert decoded == '{"algorithm":"HMACSHA256","b":[1,2],"a":"é"}'.encode()


def test_sign_payload_signs_any_bytes() -> None:
    signed = sign_payload(b"not json", SECRET.encode())
    signature, payload = signed.split(".")
    assert base64.b64decode(payload) == b"not json"
    assert base64.b64decode(signature) == hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()


@pytest.mark.parametrize("secret", ["", b""])
def test_empty_secret_is_refused(secret: str | bytes) -> None:
    with pytest.raises(ConfigurationError):
        sign_envelope({"algorithm": "HMACSHA256"}, secret)


def test_nan_is_not_json() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        sign_envelope({"x": float("nan")}, SECRET)


def test_build_envelope_has_salesforce_shape() -> None:
    envelope = build_envelope(org_id=ORG, user_id=USER, now=1_700_000_000.9)
    assert set(envelope) == {"algorithm", "issuedAt", "userId", "client", "context"}
    assert envelope["algorithm"] == "HMACSHA256"
    assert envelope["issuedAt"] == 1_700_000_000
    assert envelope["userId"] == "005x0000001SyyE"  # short, as real traffic sends it
    assert set(envelope["client"]) == {"instanceId", "instanceUrl", "oauthToken", "refreshToken", "targetOrigin"}
    context = envelope["context"]
    assert set(context) == {"user", "links", "application", "organization", "environment"}
    assert context["user"]["userId"] == "005x0000001SyyEAAS"
    assert context["user"]["currencyISOCode"] == "USD"
    assert context["organization"]["organizationId"] == "00Dx00000001hxyEAA"
    assert context["organization"]["currencyIsoCode"] == "USD"
    links = context["links"]
    for key in ("loginUrl", "enterpriseUrl", "metadataUrl", "partnerUrl", "restUrl", "sobjectUrl", "searchUrl"):
        assert key in links
    for key in ("queryUrl", "recordTypeUrl", "chatterFeedsUrl", "chatterGroupsUrl", "chatterUsersUrl"):
        assert key in links
    assert links["chatterFeedItemsUrl"] == "/services/data/v31.0/chatter/feed-items"
    assert links["restUrl"] == "/services/data/v62.0/"
    assert links["enterpriseUrl"] == "/services/Soap/c/62.0/00Dx00000001hxy"
    assert links["userUrl"] == "/005x0000001SyyE"
    environment = context["environment"]
    assert environment["displayLocation"] == "Aura"
    assert environment["version"] == {"api": "62.0", "season": "WINTER"}
    assert environment["parameters"] == {}
    assert "record" not in environment
    assert context["application"]["authType"] == "SIGNED_REQUEST"


def test_build_envelope_options() -> None:
    record = {"attributes": {"type": "Account", "url": "/services/data/v61.0/sobjects/Account/001"}, "Id": "001"}
    envelope = build_envelope(
        org_id="00Dx00000001hxyEAA",
        user_id="005x0000001SyyEAAS",
        parameters={"k": [1]},
        record=record,
        display_location="PageLayout",
        sublocation="S1MobileCardFullview",
        oauth_token="tok",
        refresh_token="refresh",
        issued_at=42,
        api_version="61.0",
        short_user_id=False,
        instance_url="https://acme.my.salesforce.com",
    )
    assert envelope["userId"] == "005x0000001SyyEAAS"
    assert envelope["issuedAt"] == 42
    assert envelope["client"]["oauthToken"] == "tok"
    assert envelope["client"]["refreshToken"] == "refresh"
    assert envelope["client"]["instanceUrl"] == "https://acme.my.salesforce.com"
    environment = envelope["context"]["environment"]
    assert environment["record"] == record
    assert environment["sublocation"] == "S1MobileCardFullview"
    assert environment["version"] == {"api": "61.0", "season": "SUMMER"}
    assert environment["parameters"] == {"k": [1]}


@pytest.mark.parametrize(
    ("api", "season"), [("60.0", "SPRING"), ("61.0", "SUMMER"), ("62.0", "WINTER"), ("47.0", "WINTER")]
)
def test_release_season_follows_the_api_version(api: str, season: str) -> None:
    assert (
        build_envelope(org_id=ORG, user_id=USER, api_version=api)["context"]["environment"]["version"]["season"]
        == season
    )


def test_random_session_tokens() -> None:
    first = build_envelope(org_id=ORG, user_id=USER)["client"]["oauthToken"]
    second = build_envelope(org_id=ORG, user_id=USER)["client"]["oauthToken"]
    assert first != second
    assert first.startswith("00Dx00000001hxy!")
    assert len(first) > 60


def test_bad_arguments() -> None:
    with pytest.raises(InvalidSalesforceId):
        build_envelope(org_id=USER, user_id=USER)  # a user id where the org id belongs
    with pytest.raises(InvalidSalesforceId):
        build_envelope(org_id=ORG, user_id="005x0000001Syy")
    with pytest.raises(ConfigurationError, match="api_version"):
        build_envelope(org_id=ORG, user_id=USER, api_version="v62")


def test_signed_envelopes_verify_and_read_back() -> None:
    envelope = build_envelope(org_id=ORG, user_id=USER, parameters={"orderId": "A-1"}, oauth_token="tok", now=5)
    request = verify_signed_request(sign_envelope(envelope, SECRET), [SECRET])
    assert request.user_id == "005x0000001SyyEAAS"
    assert request.organization_id == "00Dx00000001hxyEAA"
    assert request.parameters == {"orderId": "A-1"}
    assert request.client.oauth_token == "tok"
    assert request.environment.display_location == "Aura"
    assert request.raw == json.loads(json.dumps(envelope))
