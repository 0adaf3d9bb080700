"""Django system checks of ``settings.FORCEGATE`` (registered by the app, ``forcegate.integrations.django``).

``forcegate.E001`` not a dict, ``E002`` unknown keys, ``E003`` not exactly one of JWKS/REGISTRY/VERIFIER,
``E004`` the verifier's arguments or forcegate settings refused, ``E005`` the Canvas URLs, ``E006``
Django's session cookie named like forcegate's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks

from forcegate.integrations.django._config import check_config

__all__ = ["check_forcegate_settings"]


@checks.register("forcegate")
def check_forcegate_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """One error per problem :func:`~forcegate.integrations.django._config.check_config` finds."""
    return [checks.Error(str(problem), hint=problem.hint, id=problem.check_id) for problem in check_config()]
