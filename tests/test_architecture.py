"""Layering rules of DESIGN.md, checked on what actually gets imported."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN_IN_CORE = [
    "httpx",
    "click",
    "sqlite3",
    "starlette",
    "forcegate.keys",
    "forcegate.salesforce",
    "forcegate.cli",
]


def imported_modules(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_core_imports_no_io_layers() -> None:
    modules = imported_modules("import forcegate.core")
    leaked = [name for name in FORBIDDEN_IN_CORE if name in modules]
    assert not leaked, f"forcegate.core pulls in {leaked}"
    assert "forcegate.core.jwt" in modules  # the check looked at a real import


def test_keys_does_not_import_the_org_emulator_or_cli() -> None:
    modules = imported_modules("import forcegate.keys")
    assert "forcegate.keys._jks" in modules
    assert not {"forcegate.salesforce", "forcegate.cli", "httpx", "click"} & modules
