"""The protocol core: pure functions and value objects, no HTTP, no SQL, no Redis.

Canvas signed requests (:class:`CanvasVerifier`), JWS/JWT verification under a strict policy
(:class:`JWTVerifier`), Apex assertions checked against the trust registry
(:class:`AssertionVerifier`), the JWT-bearer grant (:func:`parse_token_request`, :func:`exchange`),
RFC 9068 access tokens (:class:`AccessTokenIssuer`, :class:`AccessTokenVerifier`), the unified
:class:`Identity`, trusted keys, and Salesforce ids (``forcegate.core.ids``). Time comes from an
injected :class:`~forcegate.clock.Clock`; keys and stores come from the caller.
"""

from forcegate.core import ids
from forcegate.core.access_token import (
    AccessTokenIssuer,
    AccessTokenVerifier,
    IssuedAccessToken,
    VerifiedAccessToken,
    es256_jwk,
    new_signing_key,
)
from forcegate.core.algorithms import SUPPORTED_ALGORITHMS
from forcegate.core.assertion import AssertionVerifier, ReplayClaimer, VerifiedAssertion
from forcegate.core.canvas import CanvasVerifier, verify_signed_request
from forcegate.core.canvas_request import (
    CanvasApplication,
    CanvasClient,
    CanvasEnvironment,
    CanvasOrganization,
    CanvasRequest,
    CanvasUser,
)
from forcegate.core.claim_profile import ProfileClaims, read_profile
from forcegate.core.grant import TokenGrant, TokenRequest, exchange, parse_token_request, prepare_grant
from forcegate.core.identity import Identity
from forcegate.core.jws import JWSVerifier, VerifiedJWS
from forcegate.core.jwt import JWTPolicy, JWTVerifier, KeyResolver, VerifiedJWT, verify_jwt
from forcegate.core.trust import OrgTrust, TrustDirectory
from forcegate.core.trusted_key import TrustedKey

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "AccessTokenIssuer",
    "AccessTokenVerifier",
    "AssertionVerifier",
    "CanvasApplication",
    "CanvasClient",
    "CanvasEnvironment",
    "CanvasOrganization",
    "CanvasRequest",
    "CanvasUser",
    "CanvasVerifier",
    "Identity",
    "IssuedAccessToken",
    "JWSVerifier",
    "JWTPolicy",
    "JWTVerifier",
    "KeyResolver",
    "OrgTrust",
    "ProfileClaims",
    "ReplayClaimer",
    "TokenGrant",
    "TokenRequest",
    "TrustDirectory",
    "TrustedKey",
    "VerifiedAccessToken",
    "VerifiedAssertion",
    "VerifiedJWS",
    "VerifiedJWT",
    "es256_jwk",
    "exchange",
    "ids",
    "new_signing_key",
    "parse_token_request",
    "prepare_grant",
    "read_profile",
    "verify_jwt",
    "verify_signed_request",
]
