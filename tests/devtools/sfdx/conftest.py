"""The Node tooling in tools/salesforce-lint: a real Apex parser and the LWC ESLint rules.

A missing ``node`` or an uninstalled tools/salesforce-lint fails these tests with the command that
fixes it (``./scripts/test`` runs it); they never skip.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

LINT_DIR = Path(__file__).resolve().parents[3] / "tools" / "salesforce-lint"
# Runs a checker on the given paths; stdout holds its report.
Checker = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is required for the Apex/LWC checks (apt-get install nodejs npm)")
    if not (LINT_DIR / "node_modules").is_dir():
        pytest.fail(f"the Salesforce lint tools are not installed: npm ci --prefix {LINT_DIR}")
    return found


def _runner(node: str, script: str) -> Checker:
    def run(*paths: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node, str(LINT_DIR / script), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def check_apex(node: str) -> Checker:
    """Parse .cls files with @apexdevtools/apex-parser: exit 0 clean, 1 syntax errors."""
    return _runner(node, "check-apex.cjs")


@pytest.fixture(scope="session")
def check_lwc(node: str) -> Checker:
    """Lint LWC JavaScript with @lwc/eslint-plugin-lwc: exit 0 clean, 1 problems."""
    return _runner(node, "check-lwc.cjs")
