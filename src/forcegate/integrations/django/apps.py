"""The Django app (``INSTALLED_APPS += ["forcegate.integrations.django"]``): registers the system checks."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ForcegateAppConfig"]


class ForcegateAppConfig(AppConfig):
    """``manage.py check`` (and every ``runserver``/``migrate``) reports a refused ``settings.FORCEGATE``."""

    name = "forcegate.integrations.django"
    label = "forcegate"
    verbose_name = "forcegate"
    default = True

    def ready(self) -> None:
        from forcegate.integrations.django import checks  # noqa: F401 - registers the checks
