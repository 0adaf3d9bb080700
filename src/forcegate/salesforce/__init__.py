"""The org's side, emulated for tests, demos and local development.

Apex-compatible ``Auth.JWT`` / ``Auth.JWS`` / ``Auth.JWTBearerTokenExchange`` over an in-memory
Certificate and Key Management, and a Canvas signed-request signer that produces what Salesforce
produces. :class:`SalesforceEmulator` stands in for Salesforce's own token and userinfo endpoints,
:class:`SalesforceJWTLogin` / :class:`SalesforceSession` log a service in to Salesforce, and
:func:`parse_connected_app` reads a Connected App's metadata file.
"""

from forcegate.salesforce.apex_jwt import AuthJWS, AuthJWT, CertificateAndKeyManagement
from forcegate.salesforce.canvas_signer import build_envelope, sign_envelope
from forcegate.salesforce.connected_app import (
    CanvasConfig,
    ConnectedAppMetadata,
    load_connected_app,
    parse_connected_app,
)
from forcegate.salesforce.emulator import EmulatedUser, SalesforceEmulator, running_emulator
from forcegate.salesforce.login import AsyncSalesforceSession, SalesforceJWTLogin, SalesforceSession, SalesforceToken
from forcegate.salesforce.token_exchange import AsyncJWTBearerTokenExchange, JWTBearerTokenExchange

__all__ = [
    "AsyncJWTBearerTokenExchange",
    "AsyncSalesforceSession",
    "AuthJWS",
    "AuthJWT",
    "CanvasConfig",
    "CertificateAndKeyManagement",
    "ConnectedAppMetadata",
    "EmulatedUser",
    "JWTBearerTokenExchange",
    "SalesforceEmulator",
    "SalesforceJWTLogin",
    "SalesforceSession",
    "SalesforceToken",
    "build_envelope",
    "load_connected_app",
    "parse_connected_app",
    "running_emulator",
    "sign_envelope",
]
