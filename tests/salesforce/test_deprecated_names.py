"""The emulator's old home: forcegate.salesforce still offers the moved names and modules, with a warning.

These tests use the deprecated paths on purpose; everything else imports from forcegate.devtools.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings

import pytest

import forcegate.devtools
import forcegate.salesforce
from forcegate import ForcegateDeprecationWarning

MOVED_NAMES = [
    "AuthJWT",
    "AuthJWS",
    "CertificateAndKeyManagement",
    "build_envelope",
    "sign_envelope",
    "EmulatedUser",
    "SalesforceEmulator",
    "running_emulator",
    "JWTBearerTokenExchange",
    "AsyncJWTBearerTokenExchange",
]
MOVED_MODULES = ["apex_jwt", "canvas_signer", "emulator", "token_exchange"]


@pytest.mark.parametrize("name", MOVED_NAMES)
def test_each_moved_name_warns_and_is_the_devtools_object(name: str) -> None:
    message = rf"forcegate\.salesforce\.{name} has moved to forcegate\.devtools\.{name}"
    with pytest.warns(ForcegateDeprecationWarning, match=message) as caught:
        old = getattr(forcegate.salesforce, name)
    assert old is getattr(forcegate.devtools, name)
    assert caught[0].filename == __file__, "the warning blames the code that used the old name"


def test_every_use_warns_not_only_the_first() -> None:
    for _ in range(2):
        with pytest.warns(ForcegateDeprecationWarning):
            forcegate.salesforce.AuthJWT  # noqa: B018


def test_from_import_of_a_moved_name_warns() -> None:
    with pytest.warns(ForcegateDeprecationWarning, match="forcegate.devtools.AuthJWS"):
        from forcegate.salesforce import AuthJWS
    assert AuthJWS is forcegate.devtools.AuthJWS


def test_the_warning_is_a_deprecation_warning() -> None:
    # So `-W error::DeprecationWarning` and pytest's default filters treat it as one.
    assert issubclass(ForcegateDeprecationWarning, DeprecationWarning)


def test_the_real_clients_resolve_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in forcegate.salesforce.__all__:
            assert getattr(forcegate.salesforce, name) is not None


def test_unknown_names_are_attribute_errors_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            forcegate.salesforce.Nope  # noqa: B018


def test_dir_lists_the_supported_names_not_the_moved_ones() -> None:
    listed = dir(forcegate.salesforce)
    assert set(forcegate.salesforce.__all__) <= set(listed)
    assert not set(MOVED_NAMES) & set(listed)


@pytest.mark.parametrize("module", MOVED_MODULES)
def test_old_module_paths_warn_and_re_export_the_new_modules(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old_name, new_name = f"forcegate.salesforce.{module}", f"forcegate.devtools.{module}"
    monkeypatch.delitem(sys.modules, old_name, raising=False)  # import it afresh, so it warns again
    with pytest.warns(ForcegateDeprecationWarning, match=rf"{old_name} has moved to {new_name}"):
        old = importlib.import_module(old_name)
    new = importlib.import_module(new_name)
    assert sorted(old.__all__) == sorted(new.__all__)
    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name)


def test_an_import_statement_of_an_old_module_blames_the_importer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "forcegate.salesforce.apex_jwt", raising=False)
    with pytest.warns(ForcegateDeprecationWarning) as caught:
        import forcegate.salesforce.apex_jwt  # noqa: F401
    assert caught[0].filename == __file__


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_importing_forcegate_salesforce_loads_no_development_tool() -> None:
    modules = _modules_after("import forcegate.salesforce")
    assert "forcegate.salesforce.connected_app" in modules  # the check looked at a real import
    assert not {name for name in modules if name.startswith("forcegate.devtools")}
    # The login client (and httpx) load on first use of one of its names, not before.
    assert not {"forcegate.salesforce.login", "httpx"} & modules


def test_using_the_login_client_loads_no_development_tool() -> None:
    modules = _modules_after("from forcegate.salesforce import SalesforceJWTLogin, SalesforceSession")
    assert "forcegate.salesforce.login" in modules
    assert not {name for name in modules if name.startswith("forcegate.devtools")}
