"""The org's side of Canvas: build and sign a ``signed_request`` the way Salesforce does.

For tests, demos and local development. The envelope has the field names and shape of the Canvas
Developer Guide's CanvasRequest, Client, Context, Application, Environment, Links, Organization
and User objects; the signature is what the Guide's "Verifying and Decoding a Signed Request"
describes: ``base64(HMAC-SHA256(consumer secret, payload))`` where ``payload`` is the standard
base64 (with padding) of the compact JSON, signed as that base64 string.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from forcegate.core._b64 import b64_encode
from forcegate.core.ids import ORG_PREFIX, USER_PREFIX, to15, validate
from forcegate.errors import ConfigurationError

__all__ = ["build_envelope", "sign_envelope", "sign_payload"]

_SEASONS = ("SPRING", "SUMMER", "WINTER")  # API 60.0 was Spring '24; three releases a year


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not isinstance(key, bytes) or not key:
        raise ConfigurationError("the consumer secret must be a non-empty str or bytes")
    return key


def sign_payload(payload: bytes, secret: str | bytes) -> str:
    """Sign already-serialised JSON bytes: ``"<base64 HMAC>.<base64 payload>"``.

    :func:`sign_envelope` is the usual entry point; this one also signs bytes that are not a JSON
    object (or not JSON at all), to test how a verifier copes with a signer gone wrong.
    """
    encoded = b64_encode(payload)
    tag = hmac.digest(_key(secret), encoded.encode("ascii"), "sha256")
    return f"{b64_encode(tag)}.{encoded}"


def sign_envelope(envelope: Mapping[str, Any], secret: str | bytes) -> str:
    """Serialise ``envelope`` as compact UTF-8 JSON (as Salesforce does) and sign it with the consumer secret."""
    text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return sign_payload(text.encode("utf-8"), secret)


def _season(api_version: str) -> str:
    try:
        major = int(float(api_version))
    except ValueError:
        raise ConfigurationError(f"api_version {api_version!r} is not a version such as '62.0'") from None
    return _SEASONS[(major - 60) % 3]


def _links(api_version: str, org15: str, user15: str) -> dict[str, str]:
    data = f"/services/data/v{api_version}"
    return {
        "loginUrl": "https://login.salesforce.com",
        "enterpriseUrl": f"/services/Soap/c/{api_version}/{org15}",
        "metadataUrl": f"/services/Soap/m/{api_version}/{org15}",
        "partnerUrl": f"/services/Soap/u/{api_version}/{org15}",
        "restUrl": f"{data}/",
        "sobjectUrl": f"{data}/sobjects/",
        "searchUrl": f"{data}/search/",
        "queryUrl": f"{data}/query/",
        "recordTypeUrl": f"{data}/sobjects/RecordType/",
        "recentItemsUrl": f"{data}/recent/",
        # The Guide: the Chatter feed links stay at v31.0, the last version they point into.
        "chatterFeedsUrl": "/services/data/v31.0/chatter/feeds",
        "chatterFeedItemsUrl": "/services/data/v31.0/chatter/feed-items",
        "chatterGroupsUrl": f"{data}/chatter/groups",
        "chatterUsersUrl": f"{data}/chatter/users",
        "userUrl": f"/{user15}",
    }


def build_envelope(
    *,
    org_id: str,
    user_id: str,
    instance_url: str = "https://example.my.salesforce.com",
    user_name: str = "user@example.com",
    email: str | None = None,
    first_name: str = "Example",
    last_name: str = "User",
    locale: str = "en_US",
    language: str = "en_US",
    time_zone: str = "America/Los_Angeles",
    currency_iso_code: str = "USD",
    org_name: str = "Example Org",
    namespace_prefix: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    record: Mapping[str, Any] | None = None,
    display_location: str = "Aura",
    sublocation: str | None = None,
    app_name: str = "Example Canvas App",
    developer_name: str = "Example_Canvas_App",
    canvas_url: str = "https://canvas.example.com/canvas",
    application_id: str = "06P8W000000GmaW",
    oauth_token: str | None = None,
    refresh_token: str | None = None,
    issued_at: int | None = None,
    api_version: str = "62.0",
    short_user_id: bool = True,
    now: float | None = None,
) -> dict[str, Any]:
    """Build a realistic ``CanvasRequest`` envelope, ready for :func:`sign_envelope`.

    ``org_id`` and ``user_id`` may be 15 or 18 characters; the context carries them as 18, and the
    top-level ``userId`` as 15 when ``short_user_id`` (as real traffic does). ``oauth_token`` is a
    random session-id-shaped string when not given. ``issued_at`` defaults to ``now`` (default: the
    wall clock) in whole seconds; set ``envelope["issuedAt"] = None`` afterwards to send ``null``.
    ``sublocation`` is emitted under the key ``sublocation`` (the spelling seen in traffic; the
    Guide writes ``subLocation``). Raises :class:`~forcegate.errors.InvalidSalesforceId` for a bad
    id and :class:`~forcegate.errors.ConfigurationError` for a bad ``api_version``.
    """
    org18 = validate(org_id, prefix=ORG_PREFIX)
    user18 = validate(user_id, prefix=USER_PREFIX)
    org15, user15 = to15(org18), to15(user18)
    if oauth_token is None:
        # Salesforce session ids are "<15-char org id>!<opaque>".
        oauth_token = f"{org15}!{secrets.token_urlsafe(72)}"
    if issued_at is None:
        issued_at = int(time.time() if now is None else now)
    environment: dict[str, Any] = {
        "displayLocation": display_location,
        "locationUrl": f"{instance_url}/lightning/page/home",
        "sublocation": sublocation,
        "uiTheme": "Theme4d",
        "dimensions": {
            "clientHeight": "600px",
            "clientWidth": "1200px",
            "height": "600px",
            "width": "100%",
            "maxHeight": "2000px",
            "maxWidth": "1000px",
        },
        "version": {"api": api_version, "season": _season(api_version)},
        "parameters": dict(parameters) if parameters is not None else {},
    }
    if record is not None:
        environment["record"] = dict(record)
    return {
        "algorithm": "HMACSHA256",
        "issuedAt": issued_at,
        "userId": user15 if short_user_id else user18,
        "client": {
            "instanceId": f"_:{developer_name}:canvasapp",
            "instanceUrl": instance_url,
            "oauthToken": oauth_token,
            "refreshToken": refresh_token,
            "targetOrigin": instance_url,
        },
        "context": {
            "user": {
                "userId": user18,
                "userName": user_name,
                "firstName": first_name,
                "lastName": last_name,
                "fullName": f"{first_name} {last_name}",
                "email": user_name if email is None else email,
                "locale": locale,
                "language": language,
                "timeZone": time_zone,
                "userType": "STANDARD",
                "currencyISOCode": currency_iso_code,
                "profileId": "00e8W000001AbCd",
                "roleId": None,
                "networkId": None,
                "siteUrl": None,
                "siteUrlPrefix": None,
                "profilePhotoUrl": f"{instance_url}/profilephoto/005/F",
                "profileThumbnailUrl": f"{instance_url}/profilephoto/005/T",
                "accessibilityModeEnabled": False,
                "isDefaultNetwork": True,
            },
            "links": _links(api_version, org15, user15),
            "application": {
                "name": app_name,
                "canvasUrl": canvas_url,
                "applicationId": application_id,
                "version": "1.0",
                "authType": "SIGNED_REQUEST",
                "namespace": namespace_prefix,
                "developerName": developer_name,
                "referenceId": "09H8W000000AbCd",
                "isInstalledPersonalApp": False,
                "samlInitiationMethod": "None",
                "options": [],
            },
            "organization": {
                "organizationId": org18,
                "name": org_name,
                "currencyIsoCode": currency_iso_code,
                "multicurrencyEnabled": False,
                "namespacePrefix": namespace_prefix,
            },
            "environment": environment,
        },
    }
