"""The Starlette routes: every endpoint but the two hot ones, which the application dispatches itself."""

from __future__ import annotations

from starlette.routing import Route

from forcegate.server.console import ROUTES as CONSOLE_ROUTES
from forcegate.server.endpoints import admin, canvas, discovery, enroll, enroll_rotate, oauth, org_api
from forcegate.server.observability import METRICS_PATH
from forcegate.settings import Settings

__all__ = ["routes"]


def routes(settings: Settings) -> list[Route]:
    """The routes for ``settings`` (the Canvas landing page lives where the settings say)."""
    table = [
        Route("/canvas", canvas.post_canvas, methods=["POST"]),
        Route("/canvas", canvas.get_canvas, methods=["GET"]),
        # Before /canvas/{consumer_key}: the default landing page and the logout would otherwise be apps' keys.
        Route(settings.canvas_landing_path, canvas.landing, methods=["GET"]),
        Route("/canvas/logout", canvas.logout, methods=["POST"]),
        Route("/canvas/{consumer_key}", canvas.post_canvas, methods=["POST"]),
        Route("/canvas/{consumer_key}", canvas.get_canvas, methods=["GET"]),
        Route(org_api.CERTIFICATES_ENDPOINT, org_api.certificates, methods=["GET"]),
        Route(org_api.RETIRE_ENDPOINT, org_api.retire, methods=["POST"]),
        Route("/oauth2/introspect", oauth.introspect, methods=["POST"]),
        Route("/oauth2/revoke", oauth.revoke, methods=["POST"]),
        Route("/.well-known/jwks.json", discovery.jwks, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", discovery.metadata, methods=["GET"]),
        Route("/healthz", discovery.healthz, methods=["GET"]),
        Route("/readyz", discovery.readyz, methods=["GET"]),
        Route("/openapi.json", discovery.openapi, methods=["GET"]),
    ]
    table += [Route(admin.PREFIX + path, handler, methods=[method]) for path, handler, method in admin.ROUTES]
    table += [Route(path, handler, methods=[method]) for path, handler, method in enroll.ROUTES]
    table += [Route(path, handler, methods=[method]) for path, handler, method in enroll_rotate.ROUTES]
    table += [Route(path, handler, methods=[method]) for path, handler, method in CONSOLE_ROUTES]
    if settings.metrics:
        from forcegate.server.metrics import metrics_endpoint  # prometheus-client, only when metrics are on

        table.append(Route(METRICS_PATH, metrics_endpoint, methods=["GET"]))
    return table
