"""The example's routes: its API (Django and DRF), and the Canvas path it keeps while it migrates."""

from __future__ import annotations

from django.urls import URLPattern, path

from forcegate.integrations.django import canvas_view, logout_view

from . import views

urlpatterns: list[URLPattern] = [
    path("api/orders/", views.orders),
    path("api/drf/orders/", views.DrfOrders.as_view()),
    path("api/drf/whoami/", views.DrfWhoami.as_view()),
    path("canvas/", canvas_view),  # the Canvas app's URL in the Connected App: Salesforce POSTs here
    path("app/", views.landing),  # where canvas_view sends the browser (FORCEGATE["CANVAS_LANDING_URL"])
    path("logout/", logout_view),
]
