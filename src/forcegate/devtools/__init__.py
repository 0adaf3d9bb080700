"""Development tools: Salesforce's side of every flow, emulated, for tests, demos and local work.

Shipped with the base package, but no runtime module of forcegate imports them (checked by
tests/test_architecture.py), so a service never loads an emulator it does not use.

* :class:`AuthJWT`, :class:`AuthJWS`, :class:`CertificateAndKeyManagement` (``apex_jwt``): Apex's
  ``Auth.JWT`` / ``Auth.JWS`` over an in-memory Certificate and Key Management.
* :class:`JWTBearerTokenExchange`, :class:`AsyncJWTBearerTokenExchange` (``token_exchange``): Apex's
  ``Auth.JWTBearerTokenExchange``; needs ``httpx``.
* :func:`build_envelope`, :func:`sign_envelope` (``canvas_signer``): a Canvas ``signed_request``
  as Salesforce makes it.
* :class:`SalesforceEmulator`, :class:`EmulatedUser`, :func:`running_emulator` (``emulator``):
  Salesforce's token, userinfo and REST endpoints; needs the ``server`` extra.
* ``forcegate.devtools.demo`` (``forcegate demo``) and ``forcegate.devtools.sfdx`` (``forcegate
  sfdx scaffold``).

Names are imported on first use, so the ones that need only ``cryptography`` (``forcegate jwt
mint``, ``forcegate canvas sign``) work in a base install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forcegate.devtools.apex_jwt import AuthJWS, AuthJWT, CertificateAndKeyManagement
    from forcegate.devtools.canvas_signer import build_envelope, sign_envelope
    from forcegate.devtools.emulator import EmulatedUser, SalesforceEmulator, running_emulator
    from forcegate.devtools.token_exchange import AsyncJWTBearerTokenExchange, JWTBearerTokenExchange

__all__ = [
    "AsyncJWTBearerTokenExchange",
    "AuthJWS",
    "AuthJWT",
    "CertificateAndKeyManagement",
    "EmulatedUser",
    "JWTBearerTokenExchange",
    "SalesforceEmulator",
    "build_envelope",
    "running_emulator",
    "sign_envelope",
]

_MODULES = {
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
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
