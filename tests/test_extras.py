"""forcegate._extras: a missing optional package is reported as the extra that installs it."""

from __future__ import annotations

import pytest

from forcegate._extras import MissingExtra, install_hint, require_extra


def test_present_packages_pass() -> None:
    require_extra("the feature", "server", "json", "click")


def test_a_missing_package_names_the_extra_and_the_command() -> None:
    with pytest.raises(MissingExtra) as caught:
        require_extra("forcegate serve", "server", "json", "forcegate_no_such_package")
    error = caught.value
    assert isinstance(error, ImportError)  # callers catching ImportError still do
    assert (error.extra, error.name) == ("server", "forcegate_no_such_package")
    assert str(error) == (
        "forcegate serve needs the 'server' extra (forcegate_no_such_package is not installed): "
        "pip install 'forcegate[server]'"
    )
    assert isinstance(error.__cause__, ModuleNotFoundError)


def test_the_hint_is_quoted_for_the_shell() -> None:
    # Unquoted, zsh would take the brackets for a glob.
    assert install_hint("postgres") == "pip install 'forcegate[postgres]'"
