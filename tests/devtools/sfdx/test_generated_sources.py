"""The generated Apex parses with a real Apex parser and the LWC passes the LWC ESLint rules, in both
callout modes, with and without a namespace.

The checkers are tools/salesforce-lint/check-apex.cjs (@apexdevtools/apex-parser) and
check-lwc.cjs (@lwc/eslint-plugin-lwc); the negative tests prove each can fail.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from forcegate.devtools.sfdx import plan_scaffold, write_scaffold

Checker = Callable[..., subprocess.CompletedProcess[str]]  # the fixtures of conftest.py

ROOT = "force-app/main/default"


@pytest.fixture(
    params=[(None, "apex"), ("acme", "apex"), (None, "named-credential"), ("acme", "named-credential")],
    ids=["apex", "apex-namespace", "named-credential", "named-credential-namespace"],
)
def tree(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    namespace, callout = request.param
    write_scaffold(plan_scaffold(tmp_path, service_url="https://svc.example.com", namespace=namespace, callout=callout))
    return tmp_path / ROOT


def test_generated_apex_parses(tree: Path, check_apex: Checker) -> None:
    classes = sorted((tree / "classes").glob("*.cls"))
    assert len(classes) == 12
    result = check_apex(*classes)
    assert result.returncode == 0, result.stdout
    assert "12 file(s) parsed, 0 with errors" in result.stdout


def test_generated_lwc_passes_the_lwc_rules(tree: Path, check_lwc: Checker) -> None:
    result = check_lwc(tree / "lwc")
    assert result.returncode == 0, result.stdout
    assert "2 file(s) linted, 0 problem(s)" in result.stdout


def test_apex_rules_the_parser_does_not_check(tree: Path) -> None:
    # Compiler rules a grammar cannot see: a class extending Exception must be named …Exception, and
    # only outer classes may declare static members.
    for path in sorted((tree / "classes").glob("*.cls")):
        text = path.read_text()
        for name in re.findall(r"class (\w+) extends Exception\b", text):
            assert name.endswith("Exception"), f"{path.name}: {name}"
        depth = 0
        for number, line in enumerate(text.splitlines(), 1):
            code = re.sub(r"'(?:\\.|[^'\\])*'", "''", line).split("//")[0]  # string literals out
            if depth >= 2 and re.match(r"\s*(?:public |private |global )?static ", code):
                pytest.fail(f"{path.name}:{number}: a static member in an inner class")
            depth += code.count("{") - code.count("}")
        assert depth == 0, f"{path.name}: braces outside string literals do not balance"


# Apex Developer Guide, "Reserved Keywords" (developer.salesforce.com/docs/atlas.en-us.apexcode.meta/
# apexcode/apex_reserved_words.htm): these cannot name a variable, field, parameter or method, but the
# grammar of check-apex.cjs accepts most of them as identifiers.
APEX_RESERVED = frozenset(
    [
        "abstract",
        "activate",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "autonomous",
        "begin",
        "bigdecimal",
        "blob",
        "boolean",
        "break",
        "bulk",
        "by",
        "byte",
        "case",
        "cast",
        "catch",
        "char",
        "class",
        "collect",
        "commit",
        "const",
        "continue",
        "currency",
        "date",
        "datetime",
        "decimal",
        "default",
        "delete",
        "desc",
        "do",
        "double",
        "else",
        "end",
        "enum",
        "exception",
        "exit",
        "export",
        "extends",
        "false",
        "final",
        "finally",
        "float",
        "for",
        "from",
        "global",
        "goto",
        "group",
        "having",
        "hint",
        "if",
        "implements",
        "import",
        "in",
        "inner",
        "insert",
        "instanceof",
        "int",
        "integer",
        "interface",
        "into",
        "join",
        "like",
        "limit",
        "list",
        "long",
        "loop",
        "map",
        "merge",
        "new",
        "not",
        "null",
        "nulls",
        "number",
        "object",
        "of",
        "on",
        "or",
        "outer",
        "override",
        "package",
        "parallel",
        "pragma",
        "private",
        "protected",
        "public",
        "retrieve",
        "return",
        "rollback",
        "select",
        "set",
        "short",
        "sobject",
        "sort",
        "static",
        "string",
        "super",
        "switch",
        "synchronized",
        "system",
        "testmethod",
        "then",
        "this",
        "throw",
        "time",
        "transaction",
        "trigger",
        "true",
        "try",
        "undelete",
        "update",
        "upsert",
        "using",
        "virtual",
        "void",
        "webservice",
        "when",
        "where",
        "while",
    ]
)
# A declared name: after a type (or `>` of a generic one) and before `=`, `;`, `,`, `)`, `:` or `(`.
_TOKENS = re.compile(r"'(?:\\.|[^'\\])*'|/\*.*?\*/|//[^\n]*", re.DOTALL)
_DECLARED = re.compile(r"(?:\b[A-Z][\w.]*|(?<!=)>)\s+([A-Za-z_]\w*)\s*[=;,):(]")


def test_no_reserved_word_is_declared_as_a_name(tree: Path) -> None:
    for path in sorted((tree / "classes").glob("*.cls")):
        # One pass, so a quote in a comment or `//` in a string literal is not taken for the other.
        code = _TOKENS.sub(lambda match: "''" if match.group(0).startswith("'") else " ", path.read_text())
        names = set(_DECLARED.findall(code))
        assert not {name for name in names if name.lower() in APEX_RESERVED}, path.name
        assert len(names) > 3, path.name  # the pattern does find declarations


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
