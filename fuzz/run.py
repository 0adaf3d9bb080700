"""Run one fuzz target under atheris (libFuzzer): ``python fuzz/run.py TARGET [libFuzzer options] [CORPUS ...]``.

Everything after the target's name goes to libFuzzer as it is: ``-max_total_time=60``,
``-seed=1``, corpus directories (the first one receives new inputs), or files to run once each
(replay). ``scripts/fuzz`` is the usual way in; docs/fuzzing.md explains both.

Warnings are errors here, as in the test suite (``filterwarnings = error``), so a replay under
pytest and a run here judge an input the same way.
"""

from __future__ import annotations

import importlib
import shlex
import sys
import warnings
from pathlib import Path

import atheris  # type: ignore[import-untyped]  # ships no type information

sys.path.insert(0, str(Path(__file__).resolve().parent))  # forcegate_fuzz, beside this file

from forcegate_fuzz import TARGETS  # imports nothing from forcegate: see its docstring
from forcegate_fuzz.known import open_finding  # nor does this


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: {argv[0]} TARGET [libFuzzer options] [CORPUS ...]; TARGET is one of {', '.join(TARGETS)}")
    name = argv[1]
    warnings.simplefilter("error")
    # Only modules first imported inside this block are instrumented: forcegate must not be
    # imported before it, or the fuzzer runs blind.
    if any(module == "forcegate" or module.startswith("forcegate.") for module in sys.modules):
        sys.exit("fuzz/run.py: forcegate was imported before instrumentation")
    with atheris.instrument_imports(include=["forcegate"]):
        target = importlib.import_module(TARGETS[name])
    test_one_input = target.test_one_input

    def guarded(data: bytes) -> None:
        # Open findings (forcegate_fuzz.known) are let through wherever in the target they surface,
        # so that their saved inputs can sit in the corpus and fuzzing goes on past them.
        try:
            test_one_input(data)
        except Exception as exc:
            if open_finding(exc) is None:
                raise

    # libFuzzer re-runs its "binary" through the shell for -minimize_crash, -fork and -merge: hand
    # it the whole command (interpreter, this script, the target) as its argv[0].
    command = shlex.join([sys.executable, str(Path(__file__).resolve()), name])
    atheris.Setup([command, *argv[2:]], guarded)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
