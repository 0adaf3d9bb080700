"""``settings.FORCEGATE``: read, checked, and turned into the process's one verifier.

The shape (docs/django.md)::

    FORCEGATE = {
        # exactly one of the three:
        "JWKS": {"issuer": "https://auth.example.com"},   # JWKSVerifier(**JWKS)
        "REGISTRY": {"data_dir": "/srv/forcegate"},        # RegistryVerifier(load_settings(**REGISTRY))
        "VERIFIER": "myproject.auth.verifier",             # a Verifier, a callable making one, or a dotted path
        # the Canvas views (REGISTRY, or a VERIFIER that is a RegistryVerifier):
        "CANVAS_LANDING_URL": "/app/",                    # where canvas_view sends the browser (303)
        "LOGOUT_REDIRECT_URL": None,                      # where logout_view sends it (None: a page)
    }

``REGISTRY``'s keys are :class:`forcegate.settings.Settings` fields (``data_dir``, ``public_url``,
``extra_audiences`` …) over the ``FORCEGATE_*`` environment and ``FORCEGATE_CONFIG`` file, which still
apply beneath them (``"REGISTRY": {}`` takes everything from there). The verifier is built at the
first request that needs it, once per process (the verifiers are fork-safe), and rebuilt when a test
changes the setting (``override_settings``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from forcegate.errors import ConfigurationError, ForcegateError
from forcegate.integrations._web import VERIFIER_KINDS, check_local_path, choose_verifier, registry_of
from forcegate.resource import SESSION_COOKIE, RegistryVerifier, Verifier

__all__ = [
    "SETTING",
    "ForcegateConfig",
    "ForcegateSettingsError",
    "development",
    "get_config",
    "get_verifier",
    "registry_verifier",
]

#: The name of the Django setting.
SETTING = "FORCEGATE"
_KEYS = frozenset({*VERIFIER_KINDS, "CANVAS_LANDING_URL", "LOGOUT_REDIRECT_URL"})


class ForcegateSettingsError(ImproperlyConfigured):
    """``settings.FORCEGATE`` is refused; ``check_id`` is the system check's id (``forcegate.E00n``)."""

    def __init__(self, message: str, *, check_id: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.check_id = check_id
        self.hint = hint


@dataclass(frozen=True, slots=True)
class ForcegateConfig:
    """``settings.FORCEGATE``, checked. ``build`` makes the verifier; ``owned``: it is ours to close.
    ``development``: ``JWKS`` with ``development=True`` (a ``RegistryVerifier`` has it in its settings)."""

    kind: str
    build: Callable[[], Verifier]
    owned: bool
    development: bool
    canvas_landing_url: str
    logout_redirect_url: str | None


def read_config(value: object) -> ForcegateConfig:
    """``value`` (the ``FORCEGATE`` setting) as a :class:`ForcegateConfig`; else :class:`ForcegateSettingsError`.

    The verifier's part is read by :func:`forcegate.integrations._web.choose_verifier`, as the Flask
    extension reads its own: nothing is built or opened here except, for ``REGISTRY``, the settings
    object (which checks itself).
    """
    if not isinstance(value, Mapping):
        raise ForcegateSettingsError(
            f"settings.{SETTING} must be a dict",
            check_id="forcegate.E001",
            hint=f'for example {SETTING} = {{"JWKS": {{"issuer": "https://auth.example.com"}}}} (docs/django.md)',
        )
    unknown = sorted(str(key) for key in value if key not in _KEYS)
    if unknown:
        raise ForcegateSettingsError(
            f"settings.{SETTING} has unknown key(s) {', '.join(unknown)}",
            check_id="forcegate.E002",
            hint=f"the keys are {', '.join(sorted(_KEYS))}",
        )
    chosen = [key for key in VERIFIER_KINDS if key in value]
    if len(chosen) != 1:
        raise ForcegateSettingsError(
            f"settings.{SETTING} must name exactly one verifier: JWKS, REGISTRY or VERIFIER (found "
            f"{', '.join(chosen) or 'none'})",
            check_id="forcegate.E003",
            hint="JWKS: verify the service's access tokens with its JWKS; REGISTRY: share the service's registry",
        )
    try:
        landing = check_local_path(value.get("CANVAS_LANDING_URL", "/"), what="CANVAS_LANDING_URL")
        logout = value.get("LOGOUT_REDIRECT_URL")
        if logout is not None:
            logout = check_local_path(logout, what="LOGOUT_REDIRECT_URL")
    except (ConfigurationError, AttributeError, TypeError) as exc:  # not even a string
        raise ForcegateSettingsError(
            f"settings.{SETTING}: CANVAS_LANDING_URL must be a path on this site, LOGOUT_REDIRECT_URL one or None",
            check_id="forcegate.E005",
        ) from exc
    try:
        choice = choose_verifier(value, where=f"settings.{SETTING}", other_keys=_KEYS)
    except ConfigurationError as exc:
        raise ForcegateSettingsError(exc.reason, check_id="forcegate.E004") from exc
    jwks = value.get("JWKS")
    development = isinstance(jwks, Mapping) and jwks.get("development") is True
    return ForcegateConfig(choice.kind, choice.build, choice.owned, development, landing, logout)


# --- the process's verifier -----------------------------------------------------------------------------


class _Current:
    """The config and verifier of this process: built at first use, dropped when the setting changes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: ForcegateConfig | None = None
        self.verifier: Verifier | None = None

    def get_config(self) -> ForcegateConfig:
        config = self.config
        if config is None:
            with self.lock:
                if self.config is None:
                    self.config = read_config(getattr(settings, SETTING, None))
                config = self.config
        return config

    def get_verifier(self) -> Verifier:
        verifier = self.verifier
        if verifier is None:
            config = self.get_config()
            with self.lock:
                if self.verifier is None:
                    try:
                        self.verifier = config.build()
                    except ForcegateError as exc:
                        raise ForcegateSettingsError(
                            f"settings.{SETTING}['{config.kind.upper()}'] is refused: {exc.reason}",
                            check_id="forcegate.E004",
                        ) from exc
                verifier = self.verifier
        return verifier

    def reset(self) -> None:
        with self.lock:
            config, verifier = self.config, self.verifier
            self.config = self.verifier = None
        if verifier is not None and config is not None and config.owned:
            verifier.close()


_current = _Current()


def get_config() -> ForcegateConfig:
    """``settings.FORCEGATE``, read once per process (again after the setting changes in a test)."""
    return _current.get_config()


def get_verifier() -> Verifier:
    """The process's verifier, built from ``settings.FORCEGATE`` at its first use."""
    return _current.get_verifier()


def registry_verifier() -> RegistryVerifier:
    """The process's verifier, which the Canvas views need to be a :class:`RegistryVerifier`."""
    try:
        return registry_of(get_verifier(), where=f"settings.{SETTING}")
    except ConfigurationError as exc:
        raise ImproperlyConfigured(exc.reason) from exc


def development() -> bool:
    """Whether refusals tell the caller why (the verifier's development mode): the decorators' own 401/403."""
    verifier = get_verifier()
    if isinstance(verifier, RegistryVerifier):
        return verifier.settings.development
    return get_config().development


def _setting_changed(*, setting: str, **_: Any) -> None:
    if setting == SETTING:
        _current.reset()


setting_changed.connect(_setting_changed, dispatch_uid="forcegate.integrations.django")


def check_config() -> list[ForcegateSettingsError]:
    """What :mod:`~forcegate.integrations.django.checks` reports: the setting and the verifier it builds."""
    found: list[ForcegateSettingsError] = []
    try:
        config = read_config(getattr(settings, SETTING, None))
        if config.owned:
            config.build().close()  # the verifier checks its own arguments; it opens nothing until used
    except ForcegateSettingsError as exc:
        found.append(exc)
    except (ForcegateError, TypeError, ImportError) as exc:  # ImportError: JWKS without the resource extra
        reason = exc.reason if isinstance(exc, ForcegateError) else str(exc)
        found.append(ForcegateSettingsError(f"settings.{SETTING} is refused: {reason}", check_id="forcegate.E004"))
    if getattr(settings, "SESSION_COOKIE_NAME", None) == SESSION_COOKIE:
        found.append(
            ForcegateSettingsError(
                f"SESSION_COOKIE_NAME is {SESSION_COOKIE!r}, the cookie of forcegate's Canvas sessions",
                check_id="forcegate.E006",
                hint="keep Django's session cookie apart: forcegate's sessions are server-side, decision 0009",
            )
        )
    return found
