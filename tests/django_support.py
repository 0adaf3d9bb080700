"""A Django project inside the test process, for the tests of forcegate.integrations.django and .drf.

Django's settings are global to a process: :func:`configure` sets them once (this module is also the
``ROOT_URLCONF``), and each test swaps what it needs with ``override_settings`` — ``FORCEGATE`` (the
integration rebuilds its verifier when it changes) and ``MIDDLEWARE`` (a new test ``Client`` loads
it). A top-level module, so that it can be the URL conf by a plain name; the fixtures are in
tests/django_integration/conftest.py. The example project (examples/django_app) runs in its own process.
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

MIDDLEWARE_WITH_FORCEGATE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "forcegate.integrations.django.ForcegateMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
MIDDLEWARE_WITHOUT_FORCEGATE = [name for name in MIDDLEWARE_WITH_FORCEGATE if "forcegate" not in name]


def configure() -> None:
    """Configure Django for this process (once), with this module as the URL conf."""
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="forcegate-tests-only-not-a-secret",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="django_support",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "forcegate.integrations.django",
        ],
        MIDDLEWARE=MIDDLEWARE_WITH_FORCEGATE,
        DATABASES={},
        USE_TZ=True,
        FORCEGATE={"JWKS": {"issuer": "https://auth.example.com"}},
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": ["forcegate.integrations.drf.ForcegateAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": ["forcegate.integrations.drf.HasForcegateScopes"],
            "EXCEPTION_HANDLER": "forcegate.integrations.drf.exception_handler",
            "UNAUTHENTICATED_USER": None,
        },
    )
    django.setup()


configure()

# --- the views (after configure: DRF reads its settings on import) -------------------------------------

from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from forcegate.integrations.django import (  # noqa: E402
    canvas_view,
    forcegate_required,
    get_identity,
    logout_view,
)
from forcegate.integrations.drf import ForcegateScopes, identity_of  # noqa: E402


def _identity(request: HttpRequest) -> dict[str, Any] | None:
    identity = get_identity(request)
    return None if identity is None else identity.to_dict()


def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"identity": _identity(request)})


@forcegate_required
def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"identity": _identity(request)})


@forcegate_required(scopes=["orders:read"])
def orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"identity": _identity(request)})


@forcegate_required(scopes=["orders:read"])
async def async_orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"identity": _identity(request)})


@forcegate_required
def landing(request: HttpRequest) -> HttpResponse:
    identity = get_identity(request)
    assert identity is not None
    return HttpResponse(f"signed in: {identity.org_id}")


class DrfWhoami(APIView):
    def get(self, request: Request) -> Response:
        return Response({"user": str(request.user), "pk": request.user.pk, "identity": identity_of(request).to_dict()})


class DrfOrders(APIView):
    permission_classes = (ForcegateScopes("orders:read"),)

    def get(self, request: Request) -> Response:
        return Response({"identity": identity_of(request).to_dict()})

    def post(self, request: Request) -> Response:
        return Response({"created": True, "org_id": identity_of(request).org_id}, status=201)


urlpatterns = [
    path("public", public),
    path("whoami", whoami),
    path("orders", orders),
    path("async/orders", async_orders),
    path("canvas", canvas_view),
    path("canvas/<str:consumer_key>", canvas_view),
    path("logout", logout_view),
    path("app", landing),
    path("drf/whoami", DrfWhoami.as_view()),
    path("drf/orders", DrfOrders.as_view()),
]
