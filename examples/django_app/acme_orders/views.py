"""The example's views: each sees the same :class:`~forcegate.core.Identity` whether Salesforce reached it
with an access token from the forcegate service, an Apex JWT sent directly, or a Canvas session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html, format_html_join
from django.views.decorators.clickjacking import xframe_options_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from forcegate.core import Identity
from forcegate.integrations.django import forcegate_required, get_identity
from forcegate.integrations.drf import ForcegateScopes, identity_of


def _orders(identity: Identity) -> dict[str, Any]:
    return {
        "org_id": identity.org_id,
        "user_id": identity.user_id,
        "region": identity.parameters.get("region"),
        "via": identity.source,
        "orders": [],
    }


@forcegate_required(scopes=["orders:read"])
def orders(request: HttpRequest) -> JsonResponse:
    """A plain Django view: 401 without a credential, 403 without the ``orders:read`` scope."""
    identity = get_identity(request)
    assert identity is not None  # forcegate_required let the request through
    return JsonResponse(_orders(identity))


class DrfOrders(APIView):
    """The same API in Django REST framework: ForcegateAuthentication (settings) and a scope permission."""

    permission_classes = (ForcegateScopes("orders:read"),)

    def get(self, request: Request) -> Response:
        return Response(_orders(identity_of(request)))


class DrfWhoami(APIView):
    """Any forcegate credential (the default permission, HasForcegateScopes, with no scope)."""

    def get(self, request: Request) -> Response:
        return Response({"user": str(request.user), **identity_of(request).to_dict()})


@xframe_options_exempt  # shown inside Salesforce's Canvas iframe
@forcegate_required
def landing(request: HttpRequest) -> HttpResponse:
    """Where a Canvas login lands: who is signed in (from the forcegate session), and a logout button."""
    identity = get_identity(request)
    assert identity is not None
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td id='{}'>{}</td></tr>",
        (
            ("Org", "org_id", identity.org_id),
            ("User", "user_id", identity.user_id or "—"),
            ("Username", "username", identity.username or "—"),
            ("Source", "source", identity.source),
            ("Region", "region", identity.parameters.get("region", "—")),
        ),
    )
    return HttpResponse(
        format_html(
            "<!doctype html><title>Acme orders</title><h1>Signed in through Salesforce</h1><table>{}</table>"
            "<form method='post' action='/logout/'><button>Log out</button></form>",
            rows,
        )
    )
