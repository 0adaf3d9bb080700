"""The org's side, emulated for tests, demos and local development.

Apex-compatible ``Auth.JWT`` / ``Auth.JWS`` / ``Auth.JWTBearerTokenExchange`` over an in-memory
Certificate and Key Management, and a Canvas signed-request signer that produces what Salesforce
produces.
"""

from forcegate.salesforce.apex_jwt import AuthJWS, AuthJWT, CertificateAndKeyManagement
from forcegate.salesforce.canvas_signer import build_envelope, sign_envelope
from forcegate.salesforce.token_exchange import AsyncJWTBearerTokenExchange, JWTBearerTokenExchange

__all__ = [
    "AsyncJWTBearerTokenExchange",
    "AuthJWS",
    "AuthJWT",
    "CertificateAndKeyManagement",
    "JWTBearerTokenExchange",
    "build_envelope",
    "sign_envelope",
]
