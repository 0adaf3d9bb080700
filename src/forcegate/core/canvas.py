"""Verify a Canvas signed request (Canvas Developer Guide, "Verifying and Decoding a Signed Request").

Salesforce POSTs the form field ``signed_request`` = ``<signature>.<payload>``: ``payload`` is the
base64 of the JSON ``CanvasRequest`` envelope and ``signature`` the standard base64 of
HMAC-SHA256(consumer secret, payload) computed over the payload *string*. The checks run in this
order, each failure a :class:`~forcegate.errors.CanvasError` subclass with a precise reason:

1. size limit (``SignedRequestTooLarge``), before any other work;
2. split on the first ``.`` (``MalformedSignedRequest``);
3. the signature decodes to a 32-byte tag; any other length is a mismatch, never a truncated
   compare (``CanvasSignatureInvalid``);
4. HMAC-SHA256 over the payload bytes exactly as received, with each configured secret in turn,
   compared in constant time (``CanvasSignatureInvalid`` when none matches);
5. only then is the payload decoded (leniently: URL-safe alphabet, missing padding) as a UTF-8
   JSON object (``MalformedSignedRequest``);
6. the envelope's ``algorithm`` must be the configured one (``CanvasAlgorithmMismatch``): the
   algorithm is pinned by configuration and never chosen from the payload;
7. the envelope is checked for the typed model (:mod:`forcegate.core.canvas_request`), tolerating
   what varies in real traffic — key order, unknown keys, ``null`` for absent values, missing
   optional sections, ``currencyIsoCode`` beside ``currencyISOCode``, ``sublocation`` beside the
   documented ``subLocation``, 15- beside 18-character ids — and strict about types: a known key
   holding the wrong JSON type is a ``MalformedSignedRequest`` naming its path. Ids are
   normalised to 18 characters; a top-level ``userId`` naming another user than
   ``context.user.userId`` is malformed; ``context.organization.organizationId`` is required.

See ``docs/decisions/0004-canvas-verification.md`` for the reasons.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from forcegate.core._b64 import b64_decode_lenient
from forcegate.core._json import loads_unique
from forcegate.core.canvas_request import (
    _APPLICATION_KEYS,
    _CLIENT_KEYS,
    _ENVIRONMENT_KEYS,
    _ORGANIZATION_KEYS,
    _USER_KEYS,
    CanvasRequest,
)
from forcegate.core.ids import ORG_PREFIX, USER_PREFIX, validate
from forcegate.errors import (
    CanvasAlgorithmMismatch,
    CanvasError,
    CanvasSignatureInvalid,
    ConfigurationError,
    InvalidSalesforceId,
    MalformedSignedRequest,
    SignedRequestTooLarge,
)

__all__ = [
    "CANVAS_ALGORITHM",
    "DEFAULT_MAX_BYTES",
    "CanvasVerifier",
    "hmac_sha256_matches",
    "verify_signed_request",
]

CANVAS_ALGORITHM = "HMACSHA256"
"""The only algorithm Canvas signs with."""

DEFAULT_MAX_BYTES = 256 * 1024
"""Default size limit of a signed request: custom parameters are capped at 32 KB of JSON, and a
typical request is under 64 KB once base64-encoded; 256 KB leaves room for large ``record``
objects while bounding the HMAC and JSON work an unauthenticated caller can demand."""

_TAG_SIZE = 32  # bytes of an HMAC-SHA256 tag


def hmac_sha256_matches(key: bytes, message: bytes, tag: bytes) -> bool:
    """Whether ``tag`` is the full 32-byte HMAC-SHA256 of ``message`` under ``key``.

    The comparison is constant-time (:func:`hmac.compare_digest` on the decoded digests). A tag of
    any other length, a truncated one included, never matches.
    """
    return len(tag) == _TAG_SIZE and hmac.compare_digest(hmac.digest(key, message, "sha256"), tag)


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class CanvasVerifier:
    """Verifies Canvas signed requests for one connected app.

    ``secrets`` are the connected app's consumer secrets, the current one first: during a
    rotation configure ``[new, old]`` and watch :attr:`CanvasRequest.secret_index` fall to 0
    before removing the old one. ``algorithm`` must be ``"HMACSHA256"``, the only algorithm
    Canvas uses; it is a parameter so that configuration states it rather than the payload.
    ``max_bytes`` bounds the size of a signed request. Secrets never appear in ``repr()``.
    """

    __slots__ = ("_algorithm", "_max_bytes", "_secrets")

    def __init__(
        self,
        secrets: Sequence[str | bytes],
        *,
        algorithm: str = CANVAS_ALGORITHM,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if isinstance(secrets, str | bytes):
            raise ConfigurationError("secrets must be a sequence of consumer secrets, not a single secret")
        if algorithm != CANVAS_ALGORITHM:
            raise ConfigurationError(f"Canvas signed requests use {CANVAS_ALGORITHM}; {algorithm!r} is not supported")
        if type(max_bytes) is not int or max_bytes <= 0:
            raise ConfigurationError("max_bytes must be a positive integer")
        keys: list[bytes] = []
        for position, secret in enumerate(secrets):
            if isinstance(secret, str):
                secret = secret.encode("utf-8")
            elif not isinstance(secret, bytes):
                raise ConfigurationError(f"secret #{position} is {type(secret).__name__}, not str or bytes")
            if not secret:
                raise ConfigurationError(f"secret #{position} is empty")
            keys.append(secret)
        if not keys:
            raise ConfigurationError("at least one consumer secret is required")
        self._secrets: tuple[bytes, ...] = tuple(keys)
        self._algorithm = algorithm
        self._max_bytes = max_bytes

    @property
    def algorithm(self) -> str:
        """The pinned algorithm."""
        return self._algorithm

    @property
    def max_bytes(self) -> int:
        """The size limit of a signed request."""
        return self._max_bytes

    @property
    def secret_count(self) -> int:
        """How many secrets are configured (their values are not exposed)."""
        return len(self._secrets)

    def __repr__(self) -> str:
        return (
            f"CanvasVerifier(secrets=<{len(self._secrets)} hidden>, algorithm={self._algorithm!r}, "
            f"max_bytes={self._max_bytes})"
        )

    def verify(self, signed_request: str | bytes) -> CanvasRequest:
        """Verify ``signed_request`` (the ``signed_request`` form field's value) and return its content.

        Raises a :class:`~forcegate.errors.CanvasError` subclass; never another exception.
        """
        if not isinstance(signed_request, str | bytes):
            raise MalformedSignedRequest(f"signed request is {type(signed_request).__name__}, not str or bytes")
        size = len(signed_request)
        if size > self._max_bytes:
            raise SignedRequestTooLarge(f"signed request is {size} bytes; the limit is {self._max_bytes}")
        try:
            # Text is what base64 decoding wants and bytes what HMAC wants: convert each part once.
            text = signed_request if isinstance(signed_request, str) else signed_request.decode("ascii")
            encoded_tag, dot, payload_text = text.partition(".")
            payload = payload_text.encode("ascii")
        except UnicodeError:
            raise MalformedSignedRequest("signed request has non-ASCII characters") from None
        if not dot:
            raise MalformedSignedRequest("signed request has no '.' between signature and payload")
        if not encoded_tag:
            raise MalformedSignedRequest("signed request has an empty signature")
        if not payload:
            raise MalformedSignedRequest("signed request has an empty payload")
        try:
            tag = b64_decode_lenient(encoded_tag)
        except ValueError:  # including non-ASCII characters in a str signature
            raise MalformedSignedRequest("signature is not base64") from None
        if len(tag) != _TAG_SIZE:
            raise CanvasSignatureInvalid(f"signature is {len(tag)} bytes; an HMAC-SHA256 tag is {_TAG_SIZE}")

        secret_index = -1
        for position, secret in enumerate(self._secrets):
            if hmac_sha256_matches(secret, payload, tag):
                secret_index = position
                break
        if secret_index < 0:
            raise CanvasSignatureInvalid(f"signature matches none of the {len(self._secrets)} configured secret(s)")

        try:
            envelope = _decode_payload(payload_text)
            algorithm = envelope.get("algorithm")
            if algorithm != self._algorithm:
                if algorithm is None:
                    raise CanvasAlgorithmMismatch("envelope has no algorithm")
                raise CanvasAlgorithmMismatch(
                    f"envelope algorithm {_shorten(algorithm)} is not the configured {self._algorithm!r}"
                )
            return _check_envelope(envelope, algorithm=self._algorithm, secret_index=secret_index)
        except CanvasError as exc:
            exc.verified = True  # the HMAC held: the app's secret signed this envelope
            raise


def _decode_payload(payload: str) -> dict[str, Any]:
    # Reached only with a valid signature, so these failures mean a broken signer, not an attacker.
    try:
        decoded = b64_decode_lenient(payload)
    except ValueError:
        raise MalformedSignedRequest("payload is not base64") from None
    try:
        # The bytes as they are: orjson checks the UTF-8 itself, and the checks of loads_unique run
        # on bytes without a copy.
        envelope = loads_unique(decoded)
    except RecursionError:
        raise MalformedSignedRequest("payload JSON is nested too deeply") from None
    except ValueError as exc:  # not JSON, not UTF-8, NaN/Infinity, a 64-bit overflow, a duplicate member
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedSignedRequest("payload is not UTF-8 text") from None
        raise MalformedSignedRequest(f"payload is not acceptable JSON: {str(exc)[:120]}") from None
    if type(envelope) is not dict:
        raise MalformedSignedRequest(f"payload JSON is {type(envelope).__name__}, expected an object")
    return envelope


# --- type checks of the verified envelope ---------------------------------------------------------
# The verifier checks every known key eagerly, so that any failure is raised here; the typed views
# of forcegate.core.canvas_request are then built on first access and cannot fail.

_BOOLEANS = ("accessibilityModeEnabled", "isDefaultNetwork", "multicurrencyEnabled", "isInstalledPersonalApp")


def _schema(*string_keys: str, **other: type) -> dict[str, type]:
    schema: dict[str, type] = dict.fromkeys(string_keys, str)
    schema.update((key, bool) for key in _BOOLEANS if key in schema)
    schema.update(other)
    return schema


# The JSON type of each known key, per section. Unknown keys pass unchecked; null is always allowed.
_ENVELOPE = _schema("algorithm", "userId", issuedAt=int, client=dict, context=dict)
_CONTEXT = _schema(user=dict, organization=dict, application=dict, environment=dict, links=dict)
_CLIENT = _schema(*_CLIENT_KEYS)
_USER = _schema(*_USER_KEYS, "userId", "currencyISOCode", "currencyIsoCode")
_ORGANIZATION = _schema(*_ORGANIZATION_KEYS, "organizationId", "currencyIsoCode", "currencyISOCode")
_APPLICATION = _schema(*_APPLICATION_KEYS, options=list)
_ENVIRONMENT = _schema(
    *_ENVIRONMENT_KEYS, "subLocation", "sublocation", dimensions=dict, version=dict, parameters=dict, record=dict
)
_NO_LINKS: dict[str, Any] = {}
_TYPE_WORDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer"}


def _type_name(value: object) -> str:
    return _TYPE_WORDS.get(type(value), "a number")


def _checked(section: object, schema: dict[str, type], path: str) -> dict[str, Any]:
    """Return the JSON object ``section`` (``{}`` for null) after checking the types of its known keys.

    One loop over the items is about three times cheaper than a checking call per field.
    """
    if section is None:
        return {}
    if type(section) is not dict:
        raise MalformedSignedRequest(f"{path.rstrip('.')} is {_type_name(section)}, expected an object")
    for key, value in section.items():
        if value is not None:
            expected = schema.get(key)
            if expected is not None and type(value) is not expected:
                raise MalformedSignedRequest(f"{path}{key} is {_type_name(value)}, expected {_TYPE_WORDS[expected]}")
    return section


def _id(value: str, prefix: str, where: str) -> str:
    try:
        return validate(value, prefix=prefix)
    except InvalidSalesforceId as exc:
        raise MalformedSignedRequest(f"{where} is not a valid id: {exc.reason}") from None


def _user_id(envelope: dict[str, Any], user: dict[str, Any]) -> str:
    # The top-level userId is often the 15-character form of context.user.userId; both must agree.
    top = envelope.get("userId")
    in_context = user.get("userId")
    if in_context is None:
        if top is None:
            raise MalformedSignedRequest("neither userId nor context.user.userId is present")
        return _id(top, USER_PREFIX, "userId")
    user_id = _id(in_context, USER_PREFIX, "context.user.userId")
    # Usually top is user_id or its first 15 characters, hence a valid id already: skip re-checking.
    if top is not None and top != user_id[:15] and top != user_id and _id(top, USER_PREFIX, "userId") != user_id:
        raise MalformedSignedRequest("userId and context.user.userId name different users")
    return user_id


def _check_envelope(envelope: dict[str, Any], *, algorithm: str, secret_index: int) -> CanvasRequest:
    _checked(envelope, _ENVELOPE, "")
    context = _checked(envelope.get("context"), _CONTEXT, "context.")
    _checked(envelope.get("client"), _CLIENT, "client.")
    _checked(context.get("environment"), _ENVIRONMENT, "context.environment.")
    organization = _checked(context.get("organization"), _ORGANIZATION, "context.organization.")
    application = _checked(context.get("application"), _APPLICATION, "context.application.")
    options = application.get("options")
    if options is not None and any(type(option) is not str for option in options):
        raise MalformedSignedRequest("context.application.options is not an array of strings")
    for key, value in (context.get("links") or _NO_LINKS).items():  # an object or absent, per _CONTEXT
        if type(value) is not str and value is not None:
            raise MalformedSignedRequest(f"context.links.{key} is {_type_name(value)}, expected a string")
    user_id = _user_id(envelope, _checked(context.get("user"), _USER, "context.user."))
    organization_id = organization.get("organizationId")
    if organization_id is None:
        raise MalformedSignedRequest("context.organization.organizationId is missing")
    organization_id = _id(organization_id, ORG_PREFIX, "context.organization.organizationId")
    return CanvasRequest(algorithm, envelope.get("issuedAt"), user_id, organization_id, secret_index, envelope)


def verify_signed_request(
    signed_request: str | bytes,
    secrets: Sequence[str | bytes],
    *,
    algorithm: str = CANVAS_ALGORITHM,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CanvasRequest:
    """One-shot :meth:`CanvasVerifier.verify`; build a :class:`CanvasVerifier` once when verifying many."""
    return CanvasVerifier(secrets, algorithm=algorithm, max_bytes=max_bytes).verify(signed_request)
