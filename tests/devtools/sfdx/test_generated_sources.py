"""The generated Apex parses with a real Apex parser and the LWC passes the LWC ESLint rules.

The checkers are tools/salesforce-lint/check-apex.cjs (@apexdevtools/apex-parser) and
check-lwc.cjs (@lwc/eslint-plugin-lwc); the negative tests prove each can fail.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from forcegate.devtools.sfdx import plan_scaffold, write_scaffold

Checker = Callable[..., subprocess.CompletedProcess[str]]  # the fixtures of conftest.py

ROOT = "force-app/main/default"


@pytest.fixture(params=[None, "acme"], ids=["no-namespace", "namespace"])
def tree(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    namespace: str | None = request.param
    write_scaffold(plan_scaffold(tmp_path, service_url="https://svc.example.com", namespace=namespace))
    return tmp_path / ROOT


def test_generated_apex_parses(tree: Path, check_apex: Checker) -> None:
    classes = sorted((tree / "classes").glob("*.cls"))
    assert len(classes) == 5
    result = check_apex(*classes)
    assert result.returncode == 0, result.stdout
    assert "5 file(s) parsed, 0 with errors" in result.stdout


def test_generated_lwc_passes_the_lwc_rules(tree: Path, check_lwc: Checker) -> None:
    result = check_lwc(tree / "lwc")
    assert result.returncode == 0, result.stdout
    assert "1 file(s) linted, 0 problem(s)" in result.stdout


def test_the_apex_checker_fails_on_a_broken_generated_class(tree: Path, check_apex: Checker) -> None:
    client = tree / "classes" / "ForcegateClient.cls"
    # One missing closing brace at the end: the kind of slip a template edit makes.
    client.write_text(client.read_text().rstrip().removesuffix("}"))
    result = check_apex(client)
    assert result.returncode == 1
    assert f"{client}:" in result.stdout


def test_the_apex_checker_reports_the_line(tmp_path: Path, check_apex: Checker) -> None:
    broken = tmp_path / "Broken.cls"
    broken.write_text("public class Broken {\n    void f() { Integer x = ; }\n}\n")
    result = check_apex(broken)
    assert result.returncode == 1
    assert f"{broken}:2:" in result.stdout


def test_the_lwc_checker_fails_on_a_rule_violation(tmp_path: Path, check_lwc: Checker) -> None:
    bad = tmp_path / "lwc" / "bad" / "bad.js"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        'import { LightningElement } from "lwc";\n'
        "export default class Bad extends LightningElement {\n"
        "    renderedCallback() {\n"
        '        this.template.querySelector("div").innerHTML = "<b>unsafe</b>";\n'
        "    }\n"
        "}\n"
    )
    result = check_lwc(bad.parent)
    assert result.returncode == 1
    assert "@lwc/lwc/no-inner-html" in result.stdout


def test_the_checkers_refuse_to_run_on_nothing(check_apex: Checker, check_lwc: Checker) -> None:
    assert check_apex().returncode == 2
    assert check_lwc().returncode == 2
