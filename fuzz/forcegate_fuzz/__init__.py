"""Coverage-guided fuzz targets (atheris) for every parser an attacker's bytes reach.

Each target module has one entry point, ``test_one_input(data: bytes) -> None``, that returns when
forcegate accepted or refused ``data`` the way it promises (a result, or a
:class:`~forcegate.errors.ForcegateError`) and raises anything else: that exception is the finding.

This package imports nothing from forcegate itself: ``fuzz/run.py`` imports the target modules
inside ``atheris.instrument_imports()``, and only modules first imported inside that block get
coverage instrumentation. The modules are plain Python, so the replay test
(``tests/fuzz/test_fuzz_targets.py``) runs them without atheris. See docs/fuzzing.md.
"""

from __future__ import annotations

__all__ = ["TARGETS"]

#: Target name -> module of this package. The name is also the folder of its seeds
#: (``fuzz/corpus/NAME``), findings (``fuzz/crashes/NAME``) and dictionary (``fuzz/dicts/NAME.dict``).
TARGETS: dict[str, str] = {
    "canvas": "forcegate_fuzz.canvas",
    "jwt": "forcegate_fuzz.jwt",
    "form": "forcegate_fuzz.form",
    "admin_json": "forcegate_fuzz.admin_json",
    "keystore": "forcegate_fuzz.keystore",
}
