"""Deprecated: moved to :mod:`forcegate.devtools.canvas_signer`; importing this module warns and re-exports."""

from forcegate._deprecation import warn_moved
from forcegate.devtools.canvas_signer import (
    build_envelope,
    sign_envelope,
    sign_payload,
)

__all__ = [
    "build_envelope",
    "sign_envelope",
    "sign_payload",
]

warn_moved("forcegate.salesforce.canvas_signer", "forcegate.devtools.canvas_signer", stacklevel=2)
