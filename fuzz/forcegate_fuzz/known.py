"""Findings reported and not fixed yet: what the targets let through until forcegate is fixed.

A shallow finding would otherwise stop every fuzzing run (libFuzzer stops at the first crash) and
hide whatever lies past it. Each entry names its saved inputs under ``fuzz/crashes/``; the
replay test (tests/fuzz/test_fuzz_targets.py) runs that input with the entry switched off and
expects exactly this exception, so the day forcegate is fixed the test fails and says to delete the
entry — the input then stays as an ordinary regression seed. Matching is narrow: the exception's
type, a piece of its message, and the forcegate source file it escaped from.

``FORCEGATE_FUZZ_STRICT=1`` switches every entry off (``scripts/fuzz`` then stops at them again).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass

__all__ = ["OPEN_FINDINGS", "KnownFinding", "open_finding", "strict"]


@dataclass(frozen=True, slots=True)
class KnownFinding:
    inputs: tuple[str, ...]  # TARGET/NAME of each saved input, under fuzz/crashes/
    exceptions: tuple[type[BaseException], ...]
    messages: tuple[str, ...]  # one is a substring of str(exception)
    sources: tuple[str, ...]  # the forcegate file (below forcegate/) of the innermost forcegate frame
    summary: str


OPEN_FINDINGS: tuple[KnownFinding, ...] = ()

_STRICT = [os.environ.get("FORCEGATE_FUZZ_STRICT") == "1"]


def strict(on: bool) -> None:
    """Switch every entry off (``True``) or back on; the replay test uses it."""
    _STRICT[0] = on


def _innermost_forcegate_file(exc: BaseException) -> str | None:
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = frame.filename.replace("\\", "/")
        if "/forcegate/" in path:  # src/forcegate/… in a checkout, site-packages/forcegate/… installed
            found = path.rsplit("/forcegate/", 1)[1]
    return found


def open_finding(exc: BaseException) -> KnownFinding | None:
    """The open finding ``exc`` is an occurrence of, or ``None``."""
    if _STRICT[0]:
        return None
    source = _innermost_forcegate_file(exc)
    for known in OPEN_FINDINGS:
        if (
            isinstance(exc, known.exceptions)
            and any(message in str(exc) for message in known.messages)
            and source in known.sources
        ):
            return known
    return None
