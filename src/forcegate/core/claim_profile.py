"""The forcegate claim profile: the additional claims an Apex assertion may carry, and their rules.

Apex puts these in ``Auth.JWT.setAdditionalClaims`` (docs/claim-profile.md). All are optional::

    org_id        Organization id (key prefix 00D), 15 or 18 characters -> 18
    user_id       User id (key prefix 005) -> 18
    instance_url  https URL of the org (http only for a loopback host), no userinfo/query/fragment
    record_id     any valid Salesforce id -> 18
    params        JSON object of custom parameters, at most MAX_PARAMS_BYTES as compact JSON
    scope         space-separated scope tokens (RFC 6749 §3.3)

A claim whose value is JSON ``null`` counts as absent: Apex writes ``null`` for a map entry whose
variable is unset, and refusing that would make every optional claim a trap. Anything else of the
wrong type or format is :class:`~forcegate.errors.InvalidClaim` naming the claim; a ``params``
object over the size bound is :class:`~forcegate.errors.ClaimsTooLarge`.

The bounds also keep an access token minted from an accepted assertion under its own size limit,
so issuing can never fail once the assertion's single use has been claimed.

Other claims are ignored, among them the uniqueness claims :data:`UNIQUENESS_CLAIMS`: a random
``forcegate_nonce`` (what ``forcegate sfdx scaffold``'s Apex sends) or ``nonce`` (what older Apex
sends; OpenID Connect registers that name, and ``Auth.JWT`` may treat it as a standard claim). They
are signed, never read: single use hashes the whole token, so they only keep two assertions built
in the same second from being the same token.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson

from forcegate.core import ids
from forcegate.errors import ClaimsTooLarge, InvalidClaim, InvalidSalesforceId

__all__ = [
    "MAX_INSTANCE_URL_LENGTH",
    "MAX_PARAMS_BYTES",
    "PROFILE_CLAIMS",
    "UNIQUENESS_CLAIMS",
    "ProfileClaims",
    "is_loopback_host",
    "is_scope",
    "read_org_id",
    "read_profile",
    "split_scope",
]

MAX_PARAMS_BYTES = 8192
"""Largest ``params`` object, in bytes of compact UTF-8 JSON: it travels again in every access token."""

MAX_INSTANCE_URL_LENGTH = 1024
"""Longest ``instance_url``: a My Domain or Experience Cloud URL is far shorter."""

#: The claim names of the profile.
PROFILE_CLAIMS: frozenset[str] = frozenset({"org_id", "user_id", "instance_url", "record_id", "params", "scope"})

#: Random claims that make an assertion unique; accepted with any value and never read.
UNIQUENESS_CLAIMS: frozenset[str] = frozenset({"forcegate_nonce", "nonce"})

# RFC 6749 §3.3: scope = scope-token *( SP scope-token ); scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
# One space between tokens, none leading or trailing: the grammar has no other spelling.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
# Printable ASCII without space: urlsplit silently drops tabs and newlines, so refuse them first.
_URL_CHARS = re.compile(r"[\x21-\x7e]+")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ProfileClaims(NamedTuple):
    """The profile claims of one assertion, validated and normalised (ids in 18-character form).

    ``scopes`` is ``None`` when the assertion has no ``scope`` claim (not the same as asking for
    nothing: the grant then gives the org's scopes).
    """

    org_id: str | None = None
    user_id: str | None = None
    instance_url: str | None = None
    record_id: str | None = None
    params: Mapping[str, Any] = _EMPTY
    scopes: frozenset[str] | None = None


def is_scope(text: str) -> bool:
    """Whether ``text`` is a scope value of RFC 6749 §3.3 (one or more tokens, single spaces)."""
    return _SCOPE.fullmatch(text) is not None


def split_scope(text: str) -> frozenset[str]:
    """The scope tokens of a valid scope value (check it with :func:`is_scope` first)."""
    return frozenset(text.split(" "))


def _salesforce_id(claims: Mapping[str, Any], name: str, prefix: str | None) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidClaim(f"claim {name!r} must be a string, not {type(value).__name__}")
    try:
        return ids.validate(value, prefix=prefix)
    except InvalidSalesforceId as exc:
        raise InvalidClaim(f"claim {name!r} is not a valid id: {exc.reason}") from None


def read_org_id(claims: Mapping[str, Any]) -> str | None:
    """The ``org_id`` claim as an 18-character Organization id, or ``None`` when absent."""
    return _salesforce_id(claims, "org_id", ids.ORG_PREFIX)


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP address: where plain ``http://`` is acceptable."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _instance_url(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidClaim(f"claim 'instance_url' must be a string, not {type(value).__name__}")
    return _checked_url(value)


# An org sends the same instance URL on every request and urlsplit costs more than the rest of the
# profile; only URLs that passed are cached (a raised exception is not), so the cache stays bounded.
@functools.lru_cache(maxsize=4096)
def _checked_url(value: str) -> str:
    if len(value) > MAX_INSTANCE_URL_LENGTH:
        raise InvalidClaim(f"claim 'instance_url' is longer than {MAX_INSTANCE_URL_LENGTH} characters")
    if _URL_CHARS.fullmatch(value) is None:
        raise InvalidClaim("claim 'instance_url' holds a space, control or non-ASCII character")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # parsing the port is what validates it (ValueError when out of range)
    except ValueError as exc:
        raise InvalidClaim(f"claim 'instance_url' is not a URL: {exc}") from None
    host = parts.hostname
    if not host:
        raise InvalidClaim("claim 'instance_url' has no host")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        raise InvalidClaim("claim 'instance_url' must be an https URL (http only for a loopback host)")
    if "@" in parts.netloc:
        raise InvalidClaim("claim 'instance_url' must not contain userinfo")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise InvalidClaim("claim 'instance_url' must not have a query or fragment")
    return value


def _params(value: object) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, dict):
        raise InvalidClaim(f"claim 'params' must be a JSON object, not {type(value).__name__}")
    try:
        # orjson writes compact UTF-8, the exact form the access token will carry.
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as exc:  # nesting beyond orjson's limit, or a non-JSON value
        raise InvalidClaim(f"claim 'params' cannot be re-encoded as JSON: {exc}") from None
    if size > MAX_PARAMS_BYTES:
        raise ClaimsTooLarge(f"claim 'params' is {size} bytes of JSON; at most {MAX_PARAMS_BYTES} are accepted")
    return MappingProxyType(value)


def _scope(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidClaim(f"claim 'scope' must be a space-separated string, not {type(value).__name__}")
    if not is_scope(value):
        raise InvalidClaim("claim 'scope' is not space-separated scope tokens (RFC 6749 §3.3)")
    return split_scope(value)


def read_profile(claims: Mapping[str, Any]) -> ProfileClaims:
    """Validate the profile claims of a verified claims set; other claims are ignored.

    Raises :class:`~forcegate.errors.InvalidClaim` (wrong type or format, the reason names the
    claim) or :class:`~forcegate.errors.ClaimsTooLarge` (``params`` beyond :data:`MAX_PARAMS_BYTES`).
    """
    if not PROFILE_CLAIMS.intersection(claims):  # the common "iss/sub/aud/exp only" token: no work
        return ProfileClaims()
    return ProfileClaims(
        org_id=read_org_id(claims),
        user_id=_salesforce_id(claims, "user_id", ids.USER_PREFIX),
        instance_url=_instance_url(claims.get("instance_url")),
        record_id=_salesforce_id(claims, "record_id", None),
        params=_params(claims.get("params")),
        scopes=_scope(claims.get("scope")),
    )
