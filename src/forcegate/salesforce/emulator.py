"""Deprecated: moved to :mod:`forcegate.devtools.emulator`; importing this module warns and re-exports."""

from forcegate._deprecation import warn_moved
from forcegate.devtools.emulator import (
    EmulatedUser,
    SalesforceEmulator,
    running_emulator,
)

__all__ = [
    "EmulatedUser",
    "SalesforceEmulator",
    "running_emulator",
]

warn_moved("forcegate.salesforce.emulator", "forcegate.devtools.emulator", stacklevel=2)
