"""The layering of docs/architecture.md, checked on what actually gets imported.

core <- keys <- stores <- registry, service <- server, resource, cli: each layer imports only the ones
below it, the base install (core, keys, stores' SQLite, registry, service, resource, cli) needs no web
server or driver, and no runtime module imports the development tools.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path


def imported_modules(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def loaded(modules: set[str], *packages: str) -> list[str]:
    """The modules of ``packages`` (each package and its submodules) among ``modules``."""
    return sorted(m for m in modules for p in packages if m == p or m.startswith(p + "."))


HTTP = ("starlette", "uvicorn", "httpx", "fastapi")
DRIVERS = ("asyncpg", "redis")


def test_core_is_pure_protocol() -> None:
    modules = imported_modules("import forcegate.core")
    assert "forcegate.core.jwt" in modules  # the check looked at a real import
    leaked = loaded(
        modules,
        *HTTP,
        *DRIVERS,
        "click",
        "sqlite3",
        "forcegate.keys",
        "forcegate.stores",
        "forcegate.registry",
        "forcegate.service",
        "forcegate.server",
        "forcegate.settings",
        "forcegate.salesforce",
        "forcegate.devtools",
        "forcegate.cli",
    )
    assert not leaked, f"forcegate.core pulls in {leaked}"


def test_keys_know_only_the_core() -> None:
    modules = imported_modules("import forcegate.keys")
    assert "forcegate.keys._jks" in modules
    leaked = loaded(
        modules, *HTTP, "click", "forcegate.stores", "forcegate.registry", "forcegate.service", "forcegate.server"
    )
    assert not leaked + loaded(modules, "forcegate.salesforce", "forcegate.devtools", "forcegate.cli")


def test_stores_know_nothing_of_http_or_the_layers_above() -> None:
    modules = imported_modules("import forcegate.stores, forcegate.stores.sqlite")
    assert "forcegate.stores.sqlite_db" in modules
    leaked = loaded(
        modules, *HTTP, "click", "forcegate.registry", "forcegate.service", "forcegate.server", "forcegate.cli"
    )
    assert not leaked, f"forcegate.stores pulls in {leaked}"
    # The embedded default loads no database driver of the scale-out backends.
    assert not loaded(modules, *DRIVERS, "forcegate.stores.postgres", "forcegate.stores.redis_state")


def test_the_store_bundle_imports_no_backend() -> None:
    """Backends build a Stores; the bundle must not import them back (the cycle is gone): read from
    the source, since importing the module runs its package's __init__ first."""
    import forcegate.stores.bundle as bundle

    tree = ast.parse(Path(bundle.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "forcegate.stores.protocols" in imported  # the check read real imports
    assert not {
        name for name in imported if name.startswith("forcegate.stores.") and name != "forcegate.stores.protocols"
    }


def test_the_registry_knows_no_http() -> None:
    modules = imported_modules("import forcegate.registry")
    assert "forcegate.registry.service" in modules
    leaked = loaded(modules, *HTTP, *DRIVERS, "click", "forcegate.service", "forcegate.server", "forcegate.cli")
    assert not leaked, f"forcegate.registry pulls in {leaked}"


def test_the_authentication_service_knows_no_http_framework() -> None:
    modules = imported_modules("import forcegate.service")
    assert "forcegate.service.authentication" in modules
    leaked = loaded(modules, *HTTP, *DRIVERS, "click", "forcegate.server", "forcegate.cli")
    assert not leaked, f"forcegate.service pulls in {leaked}"


def test_the_server_does_not_import_the_cli_or_the_org_emulator() -> None:
    modules = imported_modules("import forcegate.server")
    assert "forcegate.server.endpoints.hot" in modules
    assert not loaded(modules, "click", "forcegate.cli", "forcegate.devtools", *DRIVERS)


def test_the_resource_library_knows_no_web_framework() -> None:
    """forcegate.resource is what the Django, DRF and Flask integrations build on: no framework, not the
    server, and no HTTP client or database driver until a verifier needs one (httpx: the first JWKS
    fetch of a JWKSVerifier; a driver: a RegistryVerifier's PostgreSQL or Redis store)."""
    modules = imported_modules("import forcegate.resource")
    assert "forcegate.resource._registry" in modules
    assert "forcegate.resource._jwks" in modules
    leaked = loaded(
        modules, *HTTP, *DRIVERS, "django", "flask", "click", "forcegate.server", "forcegate.cli", "forcegate.devtools"
    )
    assert not leaked, f"forcegate.resource pulls in {leaked}"
    # Its HTTP client module is the only one that imports httpx, and nothing imports it at import time.
    assert "forcegate.resource._http" not in modules


def test_the_flask_integration_sits_above_the_resource_library() -> None:
    """forcegate.integrations.flask moves values between Flask and forcegate.resource: not the server
    (no Starlette), the CLI, the development tools, nor an HTTP client before a JWKS fetch needs one."""
    modules = imported_modules("import forcegate.integrations.flask")
    assert {"flask", "forcegate.resource._registry", "forcegate.integrations._web"} <= modules
    leaked = loaded(modules, *HTTP, *DRIVERS, "django", "forcegate.server", "forcegate.cli", "forcegate.devtools")
    assert not leaked, f"forcegate.integrations.flask pulls in {leaked}"


def test_the_django_integrations_sit_above_the_resource_library() -> None:
    """forcegate.integrations.django and .drf move values between Django (REST framework) and
    forcegate.resource: not the server (no Starlette), the CLI, the development tools, Flask, nor an HTTP
    client before a JWKS fetch needs one; importing them reads no Django setting."""
    modules = imported_modules("import forcegate.integrations.django, forcegate.integrations.drf")
    assert {"django", "rest_framework", "forcegate.resource._registry", "forcegate.integrations._web"} <= modules
    leaked = loaded(modules, *HTTP, *DRIVERS, "flask", "forcegate.server", "forcegate.cli", "forcegate.devtools")
    assert not leaked, f"forcegate.integrations.django pulls in {leaked}"


def test_nothing_in_forcegate_imports_the_integrations() -> None:
    """The integrations are the top layer: read from the source, since importing every module would
    import the integrations' frameworks too."""
    import forcegate

    root = Path(forcegate.__file__).parent
    importers = []
    for path in root.rglob("*.py"):
        if path.is_relative_to(root / "integrations"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if any(name == "forcegate.integrations" or name.startswith("forcegate.integrations.") for name in names):
                importers.append(str(path.relative_to(root)))
    assert not importers, f"these modules import an integration: {importers}"


def test_the_cli_loads_no_web_server_until_it_serves() -> None:
    modules = imported_modules("import forcegate.cli.main")
    assert "forcegate.cli.orgs_commands" in modules
    assert not loaded(modules, *HTTP, *DRIVERS, "forcegate.server")


# Every module under forcegate is runtime except the development tools, the deprecated shims that
# re-export them, and `python -m forcegate.cli` (which runs the command).
NOT_RUNTIME = (
    "forcegate.devtools",
    "forcegate.demo",
    "forcegate.sfdx",
    "forcegate.salesforce.apex_jwt",
    "forcegate.salesforce.canvas_signer",
    "forcegate.salesforce.emulator",
    "forcegate.salesforce.token_exchange",
    "forcegate.cli.__main__",
)

# Lists the modules from the file tree (pkgutil.walk_packages would import each package to walk
# it, forcegate.devtools included), then imports every runtime one.
IMPORT_RUNTIME_MODULES = f"""
import importlib, os, pkgutil, forcegate
NOT_RUNTIME = {NOT_RUNTIME!r}
def walk(path, prefix):
    for info in pkgutil.iter_modules([path]):
        name = prefix + info.name
        if name.startswith(NOT_RUNTIME):
            continue
        yield name
        if info.ispkg:
            yield from walk(os.path.join(path, info.name), name + ".")
runtime = list(walk(forcegate.__path__[0], "forcegate."))
for name in runtime:
    importlib.import_module(name)
"""


def test_no_runtime_module_imports_the_development_tools() -> None:
    # forcegate.devtools ships in the base package, but only the CLI commands that use it (jwt mint,
    # canvas sign, demo, sfdx) import it: inside the command, when it runs.
    modules = imported_modules(f"exec({IMPORT_RUNTIME_MODULES!r})")  # imported_modules takes one line
    expected = {"forcegate.core", "forcegate.keys", "forcegate.salesforce", "forcegate.salesforce.login"}
    expected |= {"forcegate.settings", "forcegate.stores", "forcegate.server", "forcegate.cli.main"}
    assert expected <= modules  # the check looked at real imports
    leaked = sorted(name for name in modules if name.startswith(("forcegate.devtools", *NOT_RUNTIME)))
    assert not leaked, f"runtime modules pull in {leaked}"
