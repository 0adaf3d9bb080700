"""forcegate's clients of the real Salesforce.

:func:`parse_connected_app` / :func:`load_connected_app` read a Connected App's metadata file, and
:class:`SalesforceJWTLogin` / :class:`SalesforceSession` / :class:`AsyncSalesforceSession` log the
service in to Salesforce by the OAuth 2.0 JWT bearer flow. The login client needs ``httpx`` (the
``salesforce`` extra); its names are imported on first use, so the metadata reader works in a base
install and a missing ``httpx`` is reported only where it is needed.

The org's side emulated for tests and demos (``AuthJWT``, ``AuthJWS``, ``JWTBearerTokenExchange``,
the Canvas signer, ``SalesforceEmulator`` …) moved to :mod:`forcegate.devtools`. Those names still
resolve here, lazily and with a :class:`~forcegate._deprecation.ForcegateDeprecationWarning`;
``import forcegate.salesforce`` itself loads no development tool.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from forcegate._deprecation import warn_moved
from forcegate.salesforce.connected_app import (
    CanvasConfig,
    ConnectedAppMetadata,
    load_connected_app,
    parse_connected_app,
)

if TYPE_CHECKING:
    from forcegate.devtools.apex_jwt import AuthJWS as AuthJWS
    from forcegate.devtools.apex_jwt import AuthJWT as AuthJWT
    from forcegate.devtools.apex_jwt import CertificateAndKeyManagement as CertificateAndKeyManagement
    from forcegate.devtools.canvas_signer import build_envelope as build_envelope
    from forcegate.devtools.canvas_signer import sign_envelope as sign_envelope
    from forcegate.devtools.emulator import EmulatedUser as EmulatedUser
    from forcegate.devtools.emulator import SalesforceEmulator as SalesforceEmulator
    from forcegate.devtools.emulator import running_emulator as running_emulator
    from forcegate.devtools.token_exchange import AsyncJWTBearerTokenExchange as AsyncJWTBearerTokenExchange
    from forcegate.devtools.token_exchange import JWTBearerTokenExchange as JWTBearerTokenExchange
    from forcegate.salesforce.login import (
        AsyncSalesforceSession,
        SalesforceJWTLogin,
        SalesforceSession,
        SalesforceToken,
    )

__all__ = [
    "AsyncSalesforceSession",
    "CanvasConfig",
    "ConnectedAppMetadata",
    "SalesforceJWTLogin",
    "SalesforceSession",
    "SalesforceToken",
    "load_connected_app",
    "parse_connected_app",
]

_LOGIN_NAMES = frozenset({"AsyncSalesforceSession", "SalesforceJWTLogin", "SalesforceSession", "SalesforceToken"})

# Deprecated: name -> the forcegate.devtools module that now defines it.
_MOVED_TO_DEVTOOLS = {
    "AuthJWS": "forcegate.devtools.apex_jwt",
    "AuthJWT": "forcegate.devtools.apex_jwt",
    "CertificateAndKeyManagement": "forcegate.devtools.apex_jwt",
    "build_envelope": "forcegate.devtools.canvas_signer",
    "sign_envelope": "forcegate.devtools.canvas_signer",
    "EmulatedUser": "forcegate.devtools.emulator",
    "SalesforceEmulator": "forcegate.devtools.emulator",
    "running_emulator": "forcegate.devtools.emulator",
    "JWTBearerTokenExchange": "forcegate.devtools.token_exchange",
    "AsyncJWTBearerTokenExchange": "forcegate.devtools.token_exchange",
}


def __getattr__(name: str) -> object:
    if name in _LOGIN_NAMES:
        value = getattr(importlib.import_module("forcegate.salesforce.login"), name)
        globals()[name] = value  # supported: resolve once
        return value
    module = _MOVED_TO_DEVTOOLS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Not cached: every use of the old name warns, wherever it comes from.
    warn_moved(f"{__name__}.{name}", f"forcegate.devtools.{name}", stacklevel=2)
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
