"""Settings of the example project: one module, the forcegate part at the end.

Which forcegate verifier the project uses is chosen by the environment, to show both:

* ``ACME_FORCEGATE_ISSUER`` set (the forcegate service's public URL): ``FORCEGATE = {"JWKS": …}`` —
  the app verifies the service's access tokens with its published JWKS, and needs nothing else;
* otherwise ``FORCEGATE = {"REGISTRY": {}}`` — the app shares the service's registry (the same
  ``FORCEGATE_DATA_DIR`` or ``FORCEGATE_DATABASE_URL``, ``FORCEGATE_PUBLIC_URL`` …, read from the
  environment) and also takes Canvas logins and Apex JWTs sent directly (put the app's own URL in
  ``FORCEGATE_EXTRA_AUDIENCES`` for Apex to address them to it).
"""

from __future__ import annotations

import os
from typing import Any

# Development defaults; a deployment sets its own (and DEBUG stays off).
SECRET_KEY = os.environ.get("ACME_SECRET_KEY", "acme-example-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "forcegate.integrations.django",  # the system checks of FORCEGATE (manage.py check)
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "forcegate.integrations.django.ForcegateMiddleware",  # request.forcegate
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "acme_orders.urls"
DATABASES: dict[str, Any] = {}  # the example keeps no data of its own
USE_TZ = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["forcegate.integrations.drf.ForcegateAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["forcegate.integrations.drf.HasForcegateScopes"],
    "EXCEPTION_HANDLER": "forcegate.integrations.drf.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

FORCEGATE: dict[str, Any]
if os.environ.get("ACME_FORCEGATE_ISSUER"):
    FORCEGATE = {"JWKS": {"issuer": os.environ["ACME_FORCEGATE_ISSUER"]}}
else:
    FORCEGATE = {"REGISTRY": {}, "CANVAS_LANDING_URL": "/app/"}
