"""Run Python in a subprocess where some packages cannot be imported, as if they were not installed.

The test venv has every extra installed and is shared, so nothing can be uninstalled to test a base
install. Instead the child's first statement puts a finder at the front of ``sys.meta_path`` that
raises ``ModuleNotFoundError`` — exactly what a missing package raises, ``name`` set — for the
blocked top-level names and their submodules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable

__all__ = ["EXTRA_PACKAGES", "run_forcegate", "run_python"]

#: Every third-party package an extra brings (fastapi comes with the `fastapi` extra, flask and werkzeug
#: with `flask`, django with `django`, rest_framework with `drf`).
EXTRA_PACKAGES = (
    "uvicorn",
    "starlette",
    "asyncpg",
    "redis",
    "httpx",
    "fastapi",
    "prometheus_client",
    "jinja2",
    "argon2",
    "python_multipart",
    "opentelemetry",
    "flask",
    "werkzeug",
    "django",
    "rest_framework",
)

_BOOTSTRAP = """\
import sys


class _Blocker:
    blocked = frozenset({blocked})

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {{fullname!r}} (blocked by the test)", name=fullname)
        return None


sys.meta_path.insert(0, _Blocker())
"""


def _bootstrap(blocked: Iterable[str]) -> str:
    names = sorted(set(blocked))
    if not names:
        raise ValueError("block at least one package")
    return _BOOTSTRAP.format(blocked=json.dumps(names))


def run_python(code: str, *, blocked: Iterable[str]) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``blocked`` packages unimportable; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-c", _bootstrap(blocked) + code], capture_output=True, text=True, timeout=120, check=False
    )


def run_forcegate(*args: str, blocked: Iterable[str]) -> subprocess.CompletedProcess[str]:
    """``python -m forcegate.cli ARGS`` with ``blocked`` packages unimportable."""
    code = (
        "import runpy\n"
        f"sys.argv = ['forcegate', *{list(args)!r}]\n"
        "runpy.run_module('forcegate.cli', run_name='__main__')\n"
    )
    return run_python(code, blocked=blocked)
