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


def test_core_imports_no_stores_or_server() -> None:
    modules = imported_modules("import forcegate.core")
    assert not {"forcegate.stores", "forcegate.server", "forcegate.settings", "uvicorn"} & modules


def test_stores_know_nothing_of_http() -> None:
    modules = imported_modules("import forcegate.stores, forcegate.stores.sqlite")
    assert "forcegate.stores.sqlite_db" in modules
    assert not {"starlette", "uvicorn", "httpx", "click", "forcegate.server", "forcegate.cli"} & modules


def test_the_server_does_not_import_the_cli_or_the_org_emulator() -> None:
    modules = imported_modules("import forcegate.server")
    assert "forcegate.server.hot_endpoints" in modules
    assert not {"click", "forcegate.cli", "forcegate.salesforce"} & modules
