"""The protocol core: pure functions and value objects, no HTTP, no SQL, no Redis.

Canvas signed requests (:class:`CanvasVerifier`), JWS/JWT verification under a strict policy
(:class:`JWTVerifier`), trusted keys, and Salesforce ids (``forcegate.core.ids``). Time comes from
an injected :class:`~forcegate.clock.Clock`; keys come from the caller.
"""

from forcegate.core import ids
from forcegate.core.algorithms import SUPPORTED_ALGORITHMS
from forcegate.core.canvas import CanvasVerifier, verify_signed_request
from forcegate.core.canvas_request import (
    CanvasApplication,
    CanvasClient,
    CanvasEnvironment,
    CanvasOrganization,
    CanvasRequest,
    CanvasUser,
)
from forcegate.core.jws import JWSVerifier, VerifiedJWS
from forcegate.core.jwt import JWTPolicy, JWTVerifier, KeyResolver, VerifiedJWT, verify_jwt
from forcegate.core.trusted_key import TrustedKey

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "CanvasApplication",
    "CanvasClient",
    "CanvasEnvironment",
    "CanvasOrganization",
    "CanvasRequest",
    "CanvasUser",
    "CanvasVerifier",
    "JWSVerifier",
    "JWTPolicy",
    "JWTVerifier",
    "KeyResolver",
    "TrustedKey",
    "VerifiedJWS",
    "VerifiedJWT",
    "ids",
    "verify_jwt",
    "verify_signed_request",
]
