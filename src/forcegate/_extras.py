"""Optional dependencies: the packages each extra of forcegate installs, and the error naming the extra.

The base install is the library and the command (``cryptography``, ``orjson``, ``click``); serving,
the scale-out backends and the outbound Salesforce client come with extras (pyproject.toml). A
feature used without its extra must say which extra to install, not fail with a bare
``ModuleNotFoundError`` from deep inside an import.
"""

from __future__ import annotations

import importlib

__all__ = ["MissingExtra", "install_hint", "missing_extra", "require_extra"]


class MissingExtra(ImportError):
    """A feature needs a package that one of forcegate's extras installs, and it cannot be imported."""

    def __init__(self, message: str, *, extra: str, name: str | None) -> None:
        super().__init__(message, name=name)
        self.extra = extra


def install_hint(extra: str) -> str:
    """The command that installs ``extra``, quoted for a POSIX shell."""
    return f"pip install 'forcegate[{extra}]'"


def missing_extra(feature: str, extra: str, module: str) -> MissingExtra:
    """The error for ``feature`` when ``module``, which ``extra`` installs, cannot be imported."""
    message = f"{feature} needs the {extra!r} extra ({module} is not installed): {install_hint(extra)}"
    return MissingExtra(message, extra=extra, name=module)


def require_extra(feature: str, extra: str, *modules: str) -> None:
    """Import each of ``modules``; raise :class:`MissingExtra` naming ``extra`` if one cannot be.

    Checked before the feature's own imports, so a missing package is reported as the extra to
    install, while an ``ImportError`` inside forcegate itself still surfaces as the bug it is.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise missing_extra(feature, extra, exc.name or module) from exc
