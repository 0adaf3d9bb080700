"""Deprecated: moved to :mod:`forcegate.devtools.token_exchange`; importing this module warns and re-exports."""

from forcegate._deprecation import warn_moved
from forcegate.devtools.token_exchange import (
    GRANT_TYPE,
    AsyncJWTBearerTokenExchange,
    JWTBearerTokenExchange,
)

__all__ = [
    "GRANT_TYPE",
    "AsyncJWTBearerTokenExchange",
    "JWTBearerTokenExchange",
]

warn_moved("forcegate.salesforce.token_exchange", "forcegate.devtools.token_exchange", stacklevel=2)
