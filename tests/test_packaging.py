"""Packaging by extras: the base install is the library and the command, everything else is an extra.

Read from the installed metadata (``importlib.metadata``), so this checks what pip was given, not
just what pyproject.toml says; ``./scripts/test`` reinstalls the project first.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from blocked_imports import EXTRA_PACKAGES, run_forcegate, run_python

EXTRAS = {
    "server": {"starlette", "uvicorn", "httpx", "prometheus-client", "jinja2", "argon2-cffi", "python-multipart"},
    "postgres": {"asyncpg"},
    "redis": {"redis"},
    "fastapi": {
        "fastapi",
        "starlette",
        "uvicorn",
        "httpx",
        "prometheus-client",
        "jinja2",
        "argon2-cffi",
        "python-multipart",
    },
    "salesforce": {"httpx"},
    "resource": {"httpx"},
    "flask": {"flask", "httpx"},
    "django": {"django", "httpx"},
    "drf": {"django", "djangorestframework", "httpx"},
    "otel": {"opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"},
}
EXTRAS["all"] = set().union(*EXTRAS.values())

# The version ranges the packages had before they became extras (cryptography's floor since raised to 44:
# deterministic ECDSA for the access tokens, decision 0019).
RANGES = {
    "cryptography": ">=44,<51",
    "orjson": ">=3.9,<4",
    "click": ">=8.1,<9",
    "starlette": ">=1.6,<2",
    "uvicorn": ">=0.54,<1",  # forcegate.server.protocol subclasses its httptools protocol as of 0.54
    "httpx": ">=0.27,<1",
    "asyncpg": ">=0.30,<1",
    "redis": ">=5.2,<9",
    "fastapi": ">=0.115,<1",
}


def _extra_of(requirement: Requirement) -> str | None:
    if requirement.marker is None:
        return None
    for extra in ["all", "dev", *EXTRAS]:
        if requirement.marker.evaluate({"extra": extra}):
            return extra
    raise AssertionError(f"{requirement} has a marker for no known extra")


def _declared() -> dict[str | None, list[Requirement]]:
    found: dict[str | None, list[Requirement]] = defaultdict(list)
    for line in requires("forcegate") or []:
        requirement = Requirement(line)
        found[_extra_of(requirement)].append(requirement)
    return found


def _resolved(extra: str | None, declared: dict[str | None, list[Requirement]]) -> set[str]:
    """The distribution names ``extra`` brings, following forcegate[...] self-references."""
    names: set[str] = set()
    for requirement in declared[extra]:
        if canonicalize_name(requirement.name) == "forcegate":
            for inner in requirement.extras:
                names |= _resolved(inner, declared)
        else:
            names.add(canonicalize_name(requirement.name))
    return names


def test_the_base_install_is_cryptography_orjson_and_click() -> None:
    assert _resolved(None, _declared()) == {"cryptography", "orjson", "click"}


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_each_extra_brings_what_it_is_for(extra: str) -> None:
    assert _resolved(extra, _declared()) == EXTRAS[extra]


def test_fastapi_and_all_build_on_the_other_extras_by_self_reference() -> None:
    declared = _declared()
    [server] = [r for r in declared["fastapi"] if r.name == "forcegate"]
    assert server.extras == {"server"}
    [everything] = [r for r in declared["all"] if r.name == "forcegate"]
    assert everything.extras == {
        "server",
        "postgres",
        "redis",
        "fastapi",
        "salesforce",
        "resource",
        "otel",
        "flask",
        "django",
        "drf",
    }


def test_dev_is_all_plus_the_tools() -> None:
    dev = _resolved("dev", _declared())
    assert EXTRAS["all"] <= dev
    assert {"pytest", "mypy", "ruff", "hypothesis"} <= dev


def test_uvicorn_comes_with_its_standard_extra() -> None:
    [uvicorn] = [r for r in _declared()["server"] if r.name == "uvicorn"]
    assert uvicorn.extras == {"standard"}


def test_the_version_ranges_are_kept() -> None:
    for requirements in _declared().values():
        for requirement in requirements:
            if requirement.name in RANGES:
                assert requirement.specifier == SpecifierSet(RANGES[requirement.name]), requirement


# --- a base install, simulated: every extra's packages unimportable ----------------------------------


def test_the_library_imports_without_any_extra() -> None:
    result = run_python(
        "import forcegate.core, forcegate.keys, forcegate.salesforce.connected_app\nprint('ok')",
        blocked=EXTRA_PACKAGES,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_the_development_tools_of_jwt_mint_canvas_sign_and_sfdx_need_no_extra() -> None:
    result = run_python(
        "from forcegate.devtools import AuthJWS, AuthJWT, CertificateAndKeyManagement, build_envelope\n"
        "from forcegate.devtools.canvas_signer import sign_envelope\n"
        "from forcegate.devtools.sfdx import plan_scaffold\n"
        "print('ok')",
        blocked=EXTRA_PACKAGES,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_the_resource_library_imports_without_any_extra_and_names_its_extra() -> None:
    # The in-process verifier is base install (SQLite); the JWKS one needs httpx, the `resource` extra.
    result = run_python(
        "from forcegate.resource import JWKSVerifier, RegistryVerifier\n"
        "from forcegate.settings import Settings\n"
        "RegistryVerifier(Settings())\n"
        "try:\n"
        "    JWKSVerifier('https://auth.example.com')\n"
        "except ImportError as exc:\n"
        "    print(exc.extra, exc)\n",
        blocked=EXTRA_PACKAGES,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "resource forcegate.resource.JWKSVerifier needs the 'resource' extra (httpx is not installed): "
        "pip install 'forcegate[resource]'\n"
    )


@pytest.mark.parametrize(
    ("module", "extra", "package"),
    [("forcegate.integrations.django", "django", "django"), ("forcegate.integrations.drf", "drf", "rest_framework")],
)
def test_the_django_integrations_name_their_extra(module: str, extra: str, package: str) -> None:
    result = run_python(
        f"try:\n    import {module}\nexcept ImportError as exc:\n    print(exc.extra, exc)\n", blocked=EXTRA_PACKAGES
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{extra} {module} needs the {extra!r} extra ({package} is not installed): pip install 'forcegate[{extra}]'\n"
    )


def test_the_cli_imports_without_any_extra() -> None:
    result = run_python("import forcegate.cli.main\nprint('ok')", blocked=EXTRA_PACKAGES)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_forcegate_help_runs_without_any_extra() -> None:
    result = run_forcegate("--help", blocked=EXTRA_PACKAGES)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
    assert result.stderr == ""


ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def test_the_license_file_is_the_apache_2_0_text_pyproject_names() -> None:
    project = _project()
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    # The full text, not a notice: the title, every one of the nine sections, the appendix.
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    for number, title in enumerate(
        [
            "Definitions",
            "Grant of Copyright License",
            "Grant of Patent License",
            "Redistribution",
            "Submission of Contributions",
            "Trademarks",
            "Disclaimer of Warranty",
            "Limitation of Liability",
            "Accepting Warranty or Additional Liability",
        ],
        start=1,
    ):
        assert f"{number}. {title}." in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
    assert len(text.split()) > 1500


def test_the_classifiers_agree_with_requires_python() -> None:
    project = _project()
    floor = SpecifierSet(str(project["requires-python"]))
    classifiers = project["classifiers"]
    assert isinstance(classifiers, list)
    versions = [c.rpartition(" :: ")[2] for c in classifiers if c.startswith("Programming Language :: Python :: 3.")]
    assert versions, "the supported Python versions are listed"
    assert all(floor.contains(f"{version}.0") for version in versions)
    lowest = min(versions, key=lambda v: tuple(map(int, v.split("."))))
    assert project["requires-python"] == f">={lowest}", "the floor is the oldest version listed"
    # PEP 639: a license expression excludes "License ::" classifiers (setuptools refuses the build).
    assert not [c for c in classifiers if c.startswith("License ::")]
