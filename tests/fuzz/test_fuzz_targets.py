"""The fuzz targets of fuzz/ (docs/fuzzing.md), in CI: every seed and finding replayed, every target fuzzed a while.

The targets live in fuzz/, outside the test tree, because they are also programs (``fuzz/run.py``
runs them under atheris for as long as one likes); here they are imported by path, without atheris,
for the replay, and run under atheris in subprocesses for the bounded fuzzing. Each bounded run has
a fixed ``-seed`` and starts from the committed seeds, so a run explores the same way each time up
to the machine's speed.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
#: Seconds of fuzzing per target in CI: five targets stay under two minutes with start-up.
SECONDS = 15


def _load_package() -> ModuleType:
    """``fuzz/forcegate_fuzz`` as the package ``forcegate_fuzz`` (its modules import each other by that name)."""
    loaded = sys.modules.get("forcegate_fuzz")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(
        "forcegate_fuzz",
        FUZZ / "forcegate_fuzz" / "__init__.py",
        submodule_search_locations=[str(FUZZ / "forcegate_fuzz")],
    )
    assert spec is not None
    assert spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["forcegate_fuzz"] = package
    spec.loader.exec_module(package)
    return package


PACKAGE = _load_package()
TARGETS: dict[str, str] = PACKAGE.TARGETS
KNOWN = importlib.import_module("forcegate_fuzz.known")


def _files(kind: str) -> list[tuple[str, Path]]:
    return [
        (target, path)
        for target in TARGETS
        for path in sorted((FUZZ / kind / target).glob("*"))
        if path.is_file() and not path.name.startswith(".")
    ]


@pytest.fixture
def strict() -> Iterator[None]:
    """Open findings are not let through: a replay judges the input as forcegate stands."""
    KNOWN.strict(True)
    yield
    KNOWN.strict(False)


def test_every_target_has_seeds_and_a_dictionary() -> None:
    for target in TARGETS:
        assert len(list((FUZZ / "corpus" / target).glob("*"))) >= 3, f"fuzz/corpus/{target} needs seeds"
        assert (FUZZ / "dicts" / f"{target}.dict").is_file()


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize(("target", "path"), _files("corpus"), ids=lambda value: getattr(value, "name", value))
def test_seed_replays(target: str, path: Path) -> None:
    importlib.import_module(TARGETS[target]).test_one_input(path.read_bytes())


def _open_finding(target: str, name: str) -> object | None:
    return next((f for f in KNOWN.OPEN_FINDINGS if f"{target}/{name}" in f.inputs), None)


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize(("target", "path"), _files("crashes"), ids=lambda value: getattr(value, "name", value))
def test_finding_replays(target: str, path: Path) -> None:
    """A fixed finding passes like a seed; an open one (fuzz/forcegate_fuzz/known.py) must still fail as recorded."""
    module = importlib.import_module(TARGETS[target])
    known = _open_finding(target, path.name)
    if known is None:
        module.test_one_input(path.read_bytes())
        return
    raised = _exception_of(module, path.read_bytes())
    if raised is None:
        pytest.fail(
            f"{target}/{path.name} no longer fails: the finding is fixed. Delete its entry from "
            "fuzz/forcegate_fuzz/known.py (the input stays as a regression seed)."
        )
    KNOWN.strict(False)
    assert KNOWN.open_finding(raised) is known, f"{path.name} now fails differently: {raised!r}"


def _exception_of(module: ModuleType, data: bytes) -> Exception | None:
    try:
        module.test_one_input(data)
    except Exception as exc:
        return exc
    return None


def test_every_open_finding_has_its_inputs() -> None:
    for finding in KNOWN.OPEN_FINDINGS:
        for name in finding.inputs:
            assert (FUZZ / "crashes" / name).is_file(), f"fuzz/crashes/{name} is missing"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzzing_finds_nothing(target: str, tmp_path: Path) -> None:
    assert importlib.util.find_spec("atheris") is not None, "atheris is missing: pip install -e '.[dev]'"
    corpora = [tmp_path / "corpus", FUZZ / "corpus" / target]
    corpora[0].mkdir()
    if (FUZZ / "crashes" / target).is_dir():
        corpora.append(FUZZ / "crashes" / target)
    command = [
        sys.executable,
        str(FUZZ / "run.py"),
        target,
        "-seed=1",
        f"-max_total_time={SECONDS}",
        "-rss_limit_mb=2048",
        "-timeout=10",
        "-print_final_stats=1",
        f"-dict={FUZZ / 'dicts' / f'{target}.dict'}",
        f"-artifact_prefix={tmp_path}/",
        *map(str, corpora),
    ]
    # The switch that turns open findings back into failures is for people, not for CI.
    environment = {name: value for name, value in os.environ.items() if name != "FORCEGATE_FUZZ_STRICT"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=SECONDS + 120, env=environment, check=False
    )
    if result.returncode != 0:
        found = [
            f"{path.name} (base64): {base64.b64encode(path.read_bytes()).decode()[:2000]}"
            for path in tmp_path.iterdir()
            if path.is_file()
        ]
        pytest.fail(
            f"fuzz target {target!r} found something (exit {result.returncode}); inputs: {found}\n"
            f"{result.stderr[-6000:]}\nSee docs/fuzzing.md: minimise it, save it under fuzz/crashes/{target}/."
        )
    assert "DONE" in result.stderr, result.stderr[-2000:]
