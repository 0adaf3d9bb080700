"""The Node tooling in tools/: a real Apex parser and the LWC ESLint rules (tools/salesforce-lint), and
Salesforce Code Analyzer's PMD engine (tools/salesforce-code-analyzer, which runs on Java).

A missing ``node`` or ``java``, or an uninstalled tools folder, fails these tests with the command that
fixes it (``./scripts/test`` runs it); they never skip.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

TOOLS_DIR = Path(__file__).resolve().parents[3] / "tools"
LINT_DIR = TOOLS_DIR / "salesforce-lint"
ANALYZER_DIR = TOOLS_DIR / "salesforce-code-analyzer"
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


def _runner(node: str, script: Path) -> Checker:
    def run(*paths: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node, str(script), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def check_apex(node: str) -> Checker:
    """Parse .cls files with @apexdevtools/apex-parser: exit 0 clean, 1 syntax errors."""
    return _runner(node, LINT_DIR / "check-apex.cjs")


@pytest.fixture(scope="session")
def check_lwc(node: str) -> Checker:
    """Lint LWC JavaScript with @lwc/eslint-plugin-lwc: exit 0 clean, 1 problems."""
    return _runner(node, LINT_DIR / "check-lwc.cjs")


@pytest.fixture(scope="session")
def code_analyzer(node: str) -> Checker:
    """Salesforce Code Analyzer (PMD engine), rule selectors AppExchange and Recommended:Security.

    Prints ``{"rules": N, "violations": [{rule, engine, severity, file, line, message}]}``; exit 0
    when it ran, whatever it found.
    """
    if shutil.which("java") is None:
        pytest.fail("java is required for Salesforce Code Analyzer's PMD engine (apt-get install default-jre-headless)")
    if not (ANALYZER_DIR / "node_modules").is_dir():
        pytest.fail(f"Salesforce Code Analyzer is not installed: npm ci --prefix {ANALYZER_DIR}")
    return _runner(node, ANALYZER_DIR / "run-code-analyzer.cjs")
