"""forcegate's deprecation warnings: one category, so users can filter exactly ours.

``warnings.simplefilter("error", ForcegateDeprecationWarning)`` turns every use of a deprecated
forcegate name into an error without touching other libraries' warnings. It subclasses
``DeprecationWarning``, so ``-W error::DeprecationWarning`` and pytest's default filters see it too.
It is not in ``forcegate.errors``: a warning is not a rejection and carries no error code.
"""

from __future__ import annotations

import warnings

__all__ = ["ForcegateDeprecationWarning", "warn_deprecated", "warn_moved"]


class ForcegateDeprecationWarning(DeprecationWarning):
    """A forcegate name or module that still works but will be removed; the message says what replaces it."""


def warn_deprecated(message: str, *, stacklevel: int = 1) -> None:
    """Emit ``message`` as a :class:`ForcegateDeprecationWarning`.

    ``stacklevel`` counts from the caller of this function, as ``warnings.warn`` counts from its
    own caller: 1 blames the caller, 2 the caller's caller. Import machinery frames are skipped by
    ``warnings`` itself, so a module shim that passes 2 blames the module that imported it.
    """
    warnings.warn(message, ForcegateDeprecationWarning, stacklevel=stacklevel + 1)


def warn_moved(old: str, new: str, *, stacklevel: int = 1) -> None:
    """Warn that ``old`` (a dotted name) moved to ``new`` and will be removed from the old place."""
    warn_deprecated(
        f"{old} has moved to {new}; import it from there ({old} will be removed in a future release)",
        stacklevel=stacklevel + 1,
    )
