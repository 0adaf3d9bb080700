"""Deprecated: moved to :mod:`forcegate.devtools.demo`; importing this module warns and re-exports."""

from forcegate._deprecation import warn_moved
from forcegate.devtools.demo import (
    DemoOptions,
    run_demo,
)

__all__ = [
    "DemoOptions",
    "run_demo",
]

warn_moved("forcegate.demo", "forcegate.devtools.demo", stacklevel=2)
