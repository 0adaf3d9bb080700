"""The OpenAPI 3.1 document of the service (served at ``/openapi.json``), written out by hand.

Hand-written because the hot endpoints are raw ASGI and no framework introspection sees them; the
test suite checks that every route the app serves is described here and vice versa.
"""

from __future__ import annotations

import re
from typing import Any

from forcegate import __version__
from forcegate.settings import Settings

__all__ = ["openapi_document"]

_OAUTH_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_IDENTITY = {
    "type": "object",
    "properties": {
        "source": {"enum": ["canvas", "jwt-bearer", "jwt"]},
        "org_id": {"type": "string"},
        "user_id": {"type": ["string", "null"]},
        "username": {"type": ["string", "null"]},
        "instance_url": {"type": ["string", "null"]},
        "record_id": {"type": ["string", "null"]},
        "parameters": {"type": "object"},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "issuer": {"type": "string"},
        "expires_at": {"type": ["number", "null"]},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


_OBJECT = {"type": "object"}
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]


def _admin(summary: str, *, body: bool = False, created: bool = False, empty: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": _ADMIN,
        "responses": {
            "204" if empty else "201" if created else "200": {"description": "done"}
            if empty
            else _json(_OBJECT, "the resource (never a secret)"),
            "400": _json(_OAUTH_ERROR, "invalid input"),
            "401": _json(_OAUTH_ERROR, "admin token missing or wrong"),
            "404": _json(_OAUTH_ERROR, "no such resource"),
        },
    }
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _OBJECT}}}
    return operation


_PATH_PARAMETERS = {
    "consumer_key": "the Connected App's consumer key",
    "org_id": "the org id, 15 or 18 characters",
    "fingerprint": "the certificate's SHA-256 fingerprint in hex (colons allowed), or a unique prefix of 8+ digits",
}


def _declare_path_parameters(paths: dict[str, Any]) -> None:
    """OpenAPI 3.1 §4.8.9.1: each ``{name}`` of a path is a required path parameter: declare them on
    the path item (an operation's own declaration of the same name takes precedence)."""
    for path, item in paths.items():
        names = re.findall(r"{([^}]+)}", path)
        if names:
            item["parameters"] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "description": _PATH_PARAMETERS.get(name, name),
                    "schema": {"type": "string"},
                }
                for name in names
            ]


def openapi_document(settings: Settings) -> dict[str, Any]:
    token_responses = {
        "200": _json(
            {
                "type": "object",
                "required": ["access_token", "token_type", "expires_in"],
                "properties": {
                    "access_token": {"type": "string"},
                    "token_type": {"const": "Bearer"},
                    "expires_in": {"type": "integer"},
                    "scope": {"type": "string"},
                },
            },
            "an access token (RFC 9068 JWT)",
        ),
        "400": _json(_OAUTH_ERROR, "RFC 6749 §5.2 error"),
        "503": _json(_OAUTH_ERROR, "a store is unavailable: temporarily_unavailable"),
    }
    paths: dict[str, Any] = {
        "/oauth2/token": {
            "post": {
                "summary": "RFC 7523 JWT-bearer grant, as Auth.JWTBearerTokenExchange sends it",
                "requestBody": _form(
                    {
                        "grant_type": {"const": "urn:ietf:params:oauth:grant-type:jwt-bearer"},
                        "assertion": {"type": "string"},
                        "scope": {"type": "string"},
                    },
                    ["grant_type", "assertion"],
                ),
                "responses": token_responses,
            }
        },
        "/api/v1/me": {
            "get": {
                "summary": "The unified identity of the caller (Canvas session, access token or direct Apex JWT)",
                "security": [{"bearer": []}, {"canvasSession": []}],
                "responses": {
                    "200": _json(_IDENTITY, "the identity"),
                    "401": _json(_OAUTH_ERROR, "no or invalid credential (RFC 6750)"),
                },
            }
        },
        "/canvas": {
            "post": {
                "summary": "Canvas signed request; opens a session and redirects to the landing page",
                "requestBody": _form({"signed_request": {"type": "string"}}, ["signed_request"]),
                "responses": {"303": {"description": "session opened"}, "401": {"description": "refused"}},
            },
            "get": {
                "summary": "explains that only Signed Request (POST) is supported",
                "responses": {"400": {"description": "OAuth webflow GET"}, "405": {"description": "use POST"}},
            },
        },
        "/canvas/{consumer_key}": {
            "post": {
                "summary": "Canvas signed request verified against one app's secrets",
                "parameters": [{"name": "consumer_key", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": _form({"signed_request": {"type": "string"}}, ["signed_request"]),
                "responses": {"303": {"description": "session opened"}, "401": {"description": "refused"}},
            },
            "get": {
                "summary": "explains that only Signed Request (POST) is supported",
                "parameters": [{"name": "consumer_key", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"400": {"description": "OAuth webflow GET"}, "405": {"description": "use POST"}},
            },
        },
        settings.canvas_landing_path: {
            "get": {
                "summary": "default landing page: who is signed in",
                "responses": {"200": {"description": "HTML"}, "401": {"description": "no session"}},
            }
        },
        "/oauth2/introspect": {
            "post": {
                "summary": "RFC 7662 token introspection",
                "security": _ADMIN,
                "requestBody": _form({"token": {"type": "string"}, "token_type_hint": {"type": "string"}}, ["token"]),
                "responses": {
                    "200": _json({"type": "object", "properties": {"active": {"type": "boolean"}}}, "introspection"),
                    "401": _json(_OAUTH_ERROR, "caller not authenticated"),
                },
            }
        },
        "/oauth2/revoke": {
            "post": {
                "summary": "RFC 7009 revocation: the admin token, or the token itself as bearer",
                "security": [*_ADMIN, {"bearer": []}],
                "requestBody": _form({"token": {"type": "string"}, "token_type_hint": {"type": "string"}}, ["token"]),
                "responses": {
                    "200": {"description": "revoked (or unknown)"},
                    "401": _json(_OAUTH_ERROR, "caller not authenticated"),
                },
            }
        },
        "/.well-known/jwks.json": {
            "get": {
                "summary": "the service's access-token signing keys",
                "responses": {"200": _json(_OBJECT, "JWK Set")},
            }
        },
        "/.well-known/oauth-authorization-server": {
            "get": {"summary": "RFC 8414 metadata", "responses": {"200": _json(_OBJECT, "metadata")}}
        },
        "/healthz": {"get": {"summary": "liveness", "responses": {"200": _json(_OBJECT, "alive")}}},
        "/readyz": {
            "get": {
                "summary": "readiness of each store",
                "responses": {"200": _json(_OBJECT, "ready"), "503": _json(_OBJECT, "a dependency is down")},
            }
        },
        "/openapi.json": {"get": {"summary": "this document", "responses": {"200": _json(_OBJECT, "OpenAPI 3.1")}}},
        "/admin/api/v1/apps": {
            "get": _admin("list apps"),
            "post": _admin("add an app (consumer key, name, secret)", body=True, created=True),
        },
        "/admin/api/v1/apps/{consumer_key}": {
            "get": _admin("show an app"),
            "delete": _admin("remove an app", empty=True),
        },
        "/admin/api/v1/apps/{consumer_key}/secrets": {
            "post": _admin("rotate the consumer secret", body=True, created=True)
        },
        "/admin/api/v1/orgs": {
            "get": _admin("list orgs (after, limit)"),
            "post": _admin("register an org", body=True, created=True),
        },
        "/admin/api/v1/orgs/{org_id}": {
            "get": _admin("show an org and its certificates"),
            "patch": _admin("change an org", body=True),
            "delete": _admin("remove an org", empty=True),
        },
        "/admin/api/v1/orgs/{org_id}/certificates": {
            "get": _admin("list an org's certificates"),
            "post": _admin("add a certificate (PEM or base64 DER)", body=True, created=True),
        },
        "/admin/api/v1/orgs/{org_id}/certificates/{fingerprint}": {
            "patch": _admin("retire or re-activate a certificate", body=True)
        },
        "/admin/api/v1/audit": {"get": _admin("audit events, newest first (org, limit, before)")},
    }
    _declare_path_parameters(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "forcegate", "version": __version__, "description": "Trust calls from Salesforce orgs."},
        "servers": [{"url": settings.public_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the admin token printed at first start",
                },
                "canvasSession": {"type": "apiKey", "in": "cookie", "name": "forcegate_session"},
            }
        },
    }
