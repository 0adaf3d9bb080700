"""forcegate._deprecation, and the old top-level homes of the demo and the SFDX scaffolding.

forcegate.salesforce's moved names are tested in tests/salesforce/test_deprecated_names.py.
"""

from __future__ import annotations

import importlib
import sys

import pytest

import forcegate
from forcegate._deprecation import ForcegateDeprecationWarning, warn_deprecated, warn_moved


def test_the_category_is_public_and_a_deprecation_warning() -> None:
    assert forcegate.ForcegateDeprecationWarning is ForcegateDeprecationWarning
    assert issubclass(ForcegateDeprecationWarning, DeprecationWarning)


def _old_helper() -> None:
    warn_deprecated("old_helper is deprecated", stacklevel=2)


def test_stacklevel_counts_from_the_caller_of_the_helper() -> None:
    calling_line = sys._getframe().f_lineno + 2
    with pytest.warns(ForcegateDeprecationWarning, match="old_helper is deprecated") as caught:
        _old_helper()
    [warning] = caught
    assert (warning.filename, warning.lineno) == (__file__, calling_line)


def test_warn_moved_names_both_places() -> None:
    with pytest.warns(ForcegateDeprecationWarning) as caught:
        warn_moved("forcegate.old.Thing", "forcegate.new.Thing")
    assert str(caught[0].message) == (
        "forcegate.old.Thing has moved to forcegate.new.Thing; import it from there "
        "(forcegate.old.Thing will be removed in a future release)"
    )
    assert caught[0].filename == __file__


@pytest.mark.parametrize(
    ("old_name", "new_name"),
    [("forcegate.demo", "forcegate.devtools.demo"), ("forcegate.sfdx", "forcegate.devtools.sfdx")],
)
def test_old_package_paths_warn_and_re_export(old_name: str, new_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, old_name, raising=False)
    with pytest.warns(ForcegateDeprecationWarning, match=rf"{old_name} has moved to {new_name}"):
        old = importlib.import_module(old_name)
    new = importlib.import_module(new_name)
    assert sorted(old.__all__) == sorted(new.__all__)
    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name)
