"""The OpenAPI 3.1 document of the service (served at ``/openapi.json``), written out by hand.

Hand-written because the hot endpoints are raw ASGI and no framework introspection sees them; the
test suite checks that every route the app serves is described here and vice versa, that the
document is valid OpenAPI 3.1, and fuzzes the service from it. The schemas are in
:mod:`forcegate.server.openapi_schemas`.
"""

from __future__ import annotations

import re
from typing import Any

from forcegate import __version__
from forcegate.server.console.openapi_paths import console_paths
from forcegate.server.openapi_schemas import component_schemas, path_parameter, query_parameter, ref
from forcegate.settings import Settings

__all__ = ["openapi_document"]

Operation = dict[str, Any]

_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


# --- building blocks --------------------------------------------------------------------------------


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ref("Error"), description)


def _challenged(description: str) -> dict[str, Any]:
    """A 401 of a protected resource: RFC 6750 §3 says why in ``WWW-Authenticate``."""
    challenge = _header('RFC 6750 §3: `Bearer realm="forcegate"`, with the error')
    return _json(ref("Error"), description, {"WWW-Authenticate": challenge})


def _list(item: str, description: str) -> dict[str, Any]:
    return _json({"type": "array", "items": ref(item)}, description)


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _upload_form(token: str) -> dict[str, Any]:
    """A certificate upload: the pasted PEM (urlencoded), or the .crt file (multipart, one file at most)."""
    pasted = {"certificate": {"type": "string", "description": "PEM"}, token: {"type": "string"}}
    uploaded = {
        "certificate_file": {"type": "string", "format": "binary", "description": "the .crt file, PEM or DER"},
        "certificate": {"type": "string", "description": "PEM, when no file is chosen"},
        token: {"type": "string"},
    }
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": pasted, "required": ["certificate", token]}
            },
            "multipart/form-data": {"schema": {"type": "object", "properties": uploaded, "required": [token]}},
        },
    }


def _token_form() -> dict[str, Any]:
    return _form(
        {
            "token": {"type": "string", "minLength": 1},
            "token_type_hint": {"type": "string", "description": "accepted and ignored (RFC 7009 §2.1)"},
        },
        ["token"],
    )


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


def _admin_security() -> list[dict[str, list[str]]]:
    return [{"adminToken": []}]


def _no_store() -> dict[str, Any]:
    return {"Cache-Control": _header("`no-store`")}


_FAILURE_LIMIT = "too many refused attempts from this address for the org it claims (`failure_rate_limit`)"


def _rate_limited(*, challenged: bool, assertions: bool = True) -> dict[str, Any]:
    """A 429 (``rate_limited``, OAuth ``slow_down``): ``token_rate_limit`` (the org's assertions for this
    minute are spent; the assertion was not used) or ``failure_rate_limit`` (refusals only)."""
    headers = {"Retry-After": _header("seconds until the next one-minute window")}
    if challenged:
        headers["WWW-Authenticate"] = _header('RFC 6750 §3: `Bearer realm="forcegate", error="slow_down"`')
    description = _FAILURE_LIMIT
    if assertions:
        description = (
            f"the org's assertions for this minute are spent (the assertion is still unused), or {description}"
        )
    return _json(ref("Error"), description, headers)


def _unavailable() -> dict[str, Any]:
    return _error("a store is unavailable: `temporarily_unavailable`")


def _admin_error(status: int) -> dict[str, Any]:
    """The admin API's refusals: an OAuth ``error``, with forcegate's ``code`` and ``error_description``."""
    if status == 401:
        return _challenged("the admin token is missing or wrong")
    if status == 503:
        return _unavailable()
    if status == 429:
        return _rate_limited(challenged=False, assertions=False)
    return _error(
        {
            400: "invalid input (`invalid_input`: malformed JSON, an unknown field, a wrong type or value out of "
            "bounds, a bad id), a value the registry's policy refuses (`weak_key`, `weak_secret`, "
            "`certificate_expired`, …), or a malformed Authorization header (`malformed_credentials`)",
            404: "no such app, org, certificate or enrollment: `not_found`",
            409: "it is already registered: `already_exists`, or `certificate_shared` (trusted for another org); "
            "the enrollment is not in a state this applies to: `enrollment_state_conflict`",
        }[status]
    )


def _admin(
    summary: str,
    ok: tuple[int, dict[str, Any]],
    *errors: int,
    body: str | None = None,
    query: tuple[str, ...] = (),
) -> Operation:
    """An admin operation answering ``ok`` (status, response), or one of ``errors``, 400, 401 or 503
    (every operation reads the Authorization header, which may be malformed)."""
    status, response = ok
    responses = {str(status): response}
    responses |= {str(code): _admin_error(code) for code in sorted({*errors, 400, 401, 429, 503})}
    operation: Operation = {"summary": summary, "security": _admin_security(), "responses": responses}
    if query:
        operation["parameters"] = [query_parameter(name) for name in query]
    if body is not None:
        operation["requestBody"] = _body(body)
    return operation


def _ok(schema: str, description: str) -> tuple[int, dict[str, Any]]:
    return 200, _json(ref(schema), description)


def _created(schema: str, description: str) -> tuple[int, dict[str, Any]]:
    return 201, _json(ref(schema), description)


def _deleted() -> tuple[int, dict[str, Any]]:
    return 204, {"description": "removed"}


def _declare_path_parameters(paths: dict[str, Any]) -> None:
    """OpenAPI 3.1 §4.8.9.1: each ``{name}`` of a path is a required path parameter: declare them on
    the path item (an operation's own declaration of the same name takes precedence)."""
    for path, item in paths.items():
        names = re.findall(r"{([^}]+)}", path)
        if names:
            item["parameters"] = [path_parameter(name) for name in names]


# --- the paths -------------------------------------------------------------------------------------


def _token_paths() -> dict[str, Any]:
    return {
        "/oauth2/token": {
            "post": {
                "summary": "RFC 7523 JWT-bearer grant, as Auth.JWTBearerTokenExchange sends it",
                "requestBody": _form(
                    {
                        "grant_type": {"const": _JWT_BEARER},
                        "assertion": {"type": "string", "description": "the JWT signed by the org"},
                        "scope": {"type": "string", "description": "space-separated; default: the org's scopes"},
                    },
                    ["grant_type", "assertion"],
                ),
                "responses": {
                    "200": _json(ref("TokenResponse"), "an access token (RFC 9068 JWT)", _no_store()),
                    "400": _error("RFC 6749 §5.2: invalid_request, invalid_grant, unsupported_grant_type …"),
                    "429": _rate_limited(challenged=False),
                    "503": _unavailable(),
                },
            }
        },
        "/api/v1/me": {
            "get": {
                "summary": "The unified identity of the caller (Canvas session, access token or direct Apex JWT)",
                "security": [{"bearer": []}, {"canvasSession": []}],
                "responses": {
                    "200": _json(ref("Identity"), "the identity"),
                    "400": _error("a malformed Authorization header: `invalid_request`"),
                    "401": _challenged("no or an invalid credential (RFC 6750 §3.1)"),
                    "429": _rate_limited(challenged=True),
                    "503": _unavailable(),
                },
            }
        },
        "/api/v1/certificates": {
            "get": {
                "summary": "the calling org's active certificates and the days each has left (the expiry watch)",
                "description": "The org's access token, or an Apex JWT sent directly; not a Canvas session.",
                "security": [{"bearer": []}],
                "responses": {
                    "200": _json(ref("OrgCertificates"), "its certificates, newest first", _no_store()),
                    "400": _error("a malformed Authorization header: `invalid_request`"),
                    "401": _challenged("no or an invalid credential (RFC 6750 §3.1)"),
                    "429": _rate_limited(challenged=True),
                    "503": _unavailable(),
                },
            }
        },
        "/api/v1/certificates/{fingerprint}/retire": {
            "post": {
                "summary": "the org confirms its rotation: retire now a certificate whose overlap is running",
                "description": "The org's access token, or an Apex JWT sent directly. Only a certificate a "
                "rotation replaced can be retired this way.",
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "fingerprint",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "the certificate's SHA-256 fingerprint (hex)",
                    }
                ],
                "responses": {
                    "200": _json(ref("Certificate"), "the certificate, retired", _no_store()),
                    "400": _error("a malformed Authorization header: `invalid_request`"),
                    "401": _challenged("no or an invalid credential (RFC 6750 §3.1)"),
                    "409": _error("no rotation overlap of this certificate is running: `enrollment_state_conflict`"),
                    "429": _rate_limited(challenged=True),
                    "503": _unavailable(),
                },
            }
        },
        "/oauth2/introspect": {
            "post": {
                "summary": "RFC 7662 token introspection",
                "description": "The admin token, or the `introspection_token` setting (a resource server's).",
                "security": [*_admin_security(), {"introspectionToken": []}],
                "requestBody": _token_form(),
                "responses": {
                    "200": _json(ref("IntrospectionResponse"), "the token's state", _no_store()),
                    "400": _error("not a form, or no `token`"),
                    "401": _challenged("the admin or introspection token is missing or wrong"),
                    "429": _rate_limited(challenged=False, assertions=False),
                    "503": _unavailable(),
                },
            }
        },
        "/oauth2/revoke": {
            "post": {
                "summary": "RFC 7009 revocation: the admin token, or the token itself as bearer",
                "security": [*_admin_security(), {"bearer": []}],
                "requestBody": _token_form(),
                "responses": {
                    "200": {"description": "revoked (for the admin, also: unknown or invalid); empty body"},
                    "400": _error("not a form, or no `token`"),
                    "401": _challenged("neither the admin token nor the token itself"),
                    "429": _rate_limited(challenged=False, assertions=False),
                    "503": _unavailable(),
                },
            }
        },
    }


def _canvas_paths(landing_path: str) -> dict[str, Any]:
    signed = _form({"signed_request": {"type": "string"}}, ["signed_request"])
    opened = {
        "description": "verified: a session is opened and the browser sent to the landing page",
        "headers": {
            "Location": _header("the landing page"),
            "Set-Cookie": _header(
                "the session cookie `forcegate_session` (HttpOnly; Secure; SameSite=None; Partitioned)"
            ),
        },
    }
    post_responses = {
        "303": opened,
        "400": _html("not a form, or no `signed_request`"),
        "401": _html("the signed request did not verify"),
        "403": _html(
            "the org is disabled, or does not trust the app (not bound to it, or not registered), or the POST came "
            "from a page that is not Salesforce's (`Origin`)"
        ),
        "413": _html("the signed request is too large"),
        "429": _html(_FAILURE_LIMIT),
        "503": _html("a store is unavailable"),
    }
    get = {
        "summary": "explains that only Signed Request (POST) is supported",
        "responses": {"400": _html("OAuth webflow GET"), "405": _html("use POST")},
    }
    return {
        "/canvas": {
            "post": {
                "summary": "Canvas signed request; opens a session and redirects to the landing page",
                "requestBody": signed,
                "responses": post_responses,
            },
            "get": get,
        },
        "/canvas/{consumer_key}": {
            "post": {
                "summary": "Canvas signed request verified against one app's secrets",
                "requestBody": signed,
                "responses": post_responses,
            },
            "get": get,
        },
        "/canvas/logout": {
            "post": {
                "summary": "ends this browser's Canvas session and removes its cookie",
                "security": [{"canvasSession": []}, {}],
                "responses": {
                    "200": {
                        "description": "signed out (also when there was no session)",
                        "headers": {"Set-Cookie": _header("`forcegate_session` removed (Max-Age=0)")},
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "503": _html("a store is unavailable"),
                },
            }
        },
        landing_path: {
            "get": {
                "summary": "default landing page: who is signed in",
                "security": [{"canvasSession": []}],
                "responses": {
                    "200": _html("who is signed in"),
                    "401": _html("no session"),
                    "503": _html("a store is unavailable"),
                },
            }
        },
    }


def _public_paths() -> dict[str, Any]:
    cached = {"Cache-Control": _header("`public, max-age=300`")}
    return {
        "/.well-known/jwks.json": {
            "get": {
                "summary": "the service's access-token signing keys",
                "responses": {
                    "200": _json(ref("JWKSet"), "JWK Set (RFC 7517 §5)", cached),
                    # Each request checks the store for a key rotation first.
                    "503": _unavailable(),
                },
            }
        },
        "/.well-known/oauth-authorization-server": {
            "get": {
                "summary": "RFC 8414 metadata",
                "responses": {"200": _json(ref("AuthorizationServerMetadata"), "metadata", cached)},
            }
        },
        "/healthz": {"get": {"summary": "liveness", "responses": {"200": _json(ref("Health"), "alive")}}},
        "/readyz": {
            "get": {
                "summary": "readiness of each store",
                "responses": {
                    "200": _json(ref("Readiness"), "ready"),
                    "503": _json(ref("Readiness"), "a store is down, or no signing key is loaded"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": {
                    "200": _json({"type": "object", "required": ["openapi", "info", "paths"]}, "OpenAPI 3.1")
                },
            }
        },
    }


def _metrics_paths() -> dict[str, Any]:
    return {
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "description": "With `metrics_token` set, only for `Authorization: Bearer <metrics_token>`.",
                "security": [{"metricsToken": []}, {}],
                "responses": {
                    "200": {
                        "description": "the metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "400": _error("a malformed Authorization header: `invalid_request`"),
                    "401": _challenged("the metrics token is missing or wrong"),
                },
            }
        }
    }


def _enroll_paths() -> dict[str, Any]:
    """Subscriber enrollment (docs/onboarding.md): pages for the admin's browser, JSON for the proof."""
    page_errors = {
        "400": _html("the sign-in failed (state, PKCE, code), or the certificate was refused by the registry's policy"),
        "403": _html("the Salesforce user holds neither Customize Application nor Modify All Data"),
        "409": _html("the certificate is already trusted (for this org, or another)"),
        "429": _html(_FAILURE_LIMIT),
        "503": _html("a store or Salesforce is unavailable"),
    }
    cookie = {"Set-Cookie": _header("`forcegate_enroll` (HttpOnly; SameSite=Lax; Path=/enroll): the sign-in")}
    return {
        "/enroll": {
            "get": {
                "summary": "where to sign in; with `login`, start the Salesforce sign-in (OAuth web server flow, PKCE)",
                "parameters": [
                    {
                        "name": "login",
                        "in": "query",
                        "required": False,
                        "description": "the login host: an entry of `enrollment_login_hosts`, or a My Domain below one",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _html("the choice of login host"),
                    "303": {
                        "description": "to Salesforce's authorize endpoint",
                        "headers": {"Location": _header("the login host's /services/oauth2/authorize"), **cookie},
                    },
                    **{k: v for k, v in page_errors.items() if k in ("400", "429", "503")},
                },
            }
        },
        "/enroll/callback": {
            "get": {
                "summary": "Salesforce's redirect back: code exchanged, identity and admin check; the upload page",
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for name in ("code", "state", "error", "error_description")
                ],
                "responses": {"200": _html("the certificate upload page"), **page_errors},
            }
        },
        "/enroll/certificate": {
            "post": {
                "summary": "enroll the uploaded or pasted certificate; the page shows the one-time code",
                "requestBody": _upload_form("form_token"),
                "responses": {"200": _html("the enrollment and its one-time code"), **page_errors},
            }
        },
        **_enroll_canvas_paths(page_errors),
        "/enroll/proof": {
            "post": {
                "summary": "proof of possession: a JWT from the org signed with the enrolled certificate's key",
                "description": "`iss` the org id, `aud` this URL, the one-time code in the `enrollment_code` claim.",
                "requestBody": _form({"assertion": {"type": "string"}}, ["assertion"]),
                "responses": {
                    "200": _json(ref("EnrollmentProof"), "the enrollment's state after the proof", _no_store()),
                    "400": _error("RFC 6749 §5.2: `invalid_grant` (the proof or its code), `invalid_request`"),
                    "409": _error("the certificate was trusted for another org meanwhile: `certificate_shared`"),
                    "429": _rate_limited(challenged=False, assertions=False),
                    "503": _unavailable(),
                },
            }
        },
        "/enroll/rotate": {
            "post": {
                "summary": "rotation from the org: the trusted certificate vouches for the new one",
                "description": "One claims set (`iss` the org id, `aud` this URL, the new certificate as base64 DER "
                "in `forcegate_new_certificate`) signed by the trusted certificate (`assertion`) and by the new "
                "one (`new_key_assertion`).",
                "requestBody": _form(
                    {"assertion": {"type": "string"}, "new_key_assertion": {"type": "string"}},
                    ["assertion", "new_key_assertion"],
                ),
                "responses": {
                    "200": _json(ref("Rotation"), "the rotation: active, or waiting for the ISV", _no_store()),
                    "400": _error(
                        "`invalid_grant` (a signature, a claim, a replay), `invalid_request` (a field missing; "
                        "or the new certificate refused by the registry's policy, its `code` given)"
                    ),
                    "409": _error("the new certificate is trusted already: `certificate_shared`, `already_exists`"),
                    "429": _rate_limited(challenged=False, assertions=False),
                    "503": _unavailable(),
                },
            }
        },
    }


def _enroll_canvas_paths(page_errors: dict[str, Any]) -> dict[str, Any]:
    """Enrollment from inside a Canvas app (decision 0022): pages framed by Salesforce's, no cookie."""
    signed = _form({"signed_request": {"type": "string"}}, ["signed_request"])
    sign_in = {
        "summary": "Canvas signed request in place of the sign-in: verified as at /canvas, then Salesforce's "
        "userinfo and the admin check with the envelope's token; the upload page (single-use upload token)",
        "requestBody": signed,
        "responses": {
            "200": _html("the certificate upload page"),
            "401": _html("the signed request did not verify, or its session is not live or not its user's"),
            "403": _html(
                "not an administrator, the org does not trust the app, or the POST came from a page that is "
                "not Salesforce's (`Origin`)"
            ),
            "413": _html("the signed request is too large"),
            **{k: v for k, v in page_errors.items() if k in ("400", "429", "503")},
        },
    }
    return {
        "/enroll/canvas": {"post": sign_in},
        "/enroll/canvas/{consumer_key}": {"post": {**sign_in, "summary": "the same, one app's secrets only"}},
        "/enroll/canvas/certificate": {
            "post": {
                "summary": "start the enrollment of the uploaded or pasted certificate; consumes the upload token",
                "requestBody": _upload_form("upload_token"),
                "responses": {"200": _html("the enrollment and its one-time code"), **page_errors},
            }
        },
    }


def _admin_paths() -> dict[str, Any]:
    prefix = "/admin/api/v1"
    return {
        f"{prefix}/apps": {
            "get": _admin("list apps", (200, _list("App", "the apps, by consumer key"))),
            "post": _admin(
                "add an app (consumer key, name, secret)", _created("App", "the app"), 400, 409, body="AppCreate"
            ),
        },
        f"{prefix}/apps/{{consumer_key}}": {
            "get": _admin("show an app", _ok("App", "the app"), 404),
            "patch": _admin(
                "change an app (only the fields given): its Canvas developer name",
                _ok("App", "the app"),
                400,
                404,
                body="AppUpdate",
            ),
            "delete": _admin("remove an app and its secrets", _deleted(), 404),
        },
        f"{prefix}/apps/{{consumer_key}}/secrets": {
            "post": _admin(
                "rotate the consumer secret",
                _created("SecretCreated", "the new secret's id (never the secret)"),
                400,
                404,
                body="SecretCreate",
            )
        },
        f"{prefix}/orgs": {
            "get": _admin("list orgs, by org id", (200, _list("Org", "a page of orgs")), 400, query=("after", "limit")),
            "post": _admin("register an org", _created("OrgWithCertificates", "the org"), 400, 409, body="OrgCreate"),
        },
        f"{prefix}/orgs/{{org_id}}": {
            "get": _admin("show an org and its certificates", _ok("OrgWithCertificates", "the org"), 400, 404),
            "patch": _admin(
                "change an org (only the fields given)",
                _ok("OrgWithCertificates", "the org"),
                400,
                404,
                body="OrgUpdate",
            ),
            "delete": _admin("remove an org and its certificates", _deleted(), 400, 404),
        },
        f"{prefix}/orgs/{{org_id}}/certificates": {
            "get": _admin(
                "list an org's certificates", (200, _list("Certificate", "its certificates, newest first")), 400, 404
            ),
            "post": _admin(
                "add a certificate (PEM or base64 DER)",
                _created("Certificate", "the certificate"),
                400,
                404,
                409,
                body="CertificateCreate",
            ),
        },
        f"{prefix}/orgs/{{org_id}}/certificates/{{fingerprint}}": {
            "patch": _admin(
                "retire or re-activate a certificate",
                _ok("Certificate", "the certificate"),
                400,
                404,
                body="CertificateStateChange",
            )
        },
        f"{prefix}/enrollments": {
            "get": _admin(
                "subscriber enrollments, newest first",
                (200, _list("Enrollment", "a page of enrollments")),
                400,
                query=("state", "org", "limit"),
            )
        },
        f"{prefix}/enrollments/{{enrollment_id}}": {
            "get": _admin("show an enrollment", _ok("Enrollment", "the enrollment"), 404)
        },
        f"{prefix}/enrollments/{{enrollment_id}}/approve": {
            "post": _admin(
                "approve: a proven enrollment becomes active (org registered if new, certificate trusted); "
                "one waiting for its proof becomes approved",
                _ok("Enrollment", "the enrollment"),
                404,
                409,
            )
        },
        f"{prefix}/enrollments/{{enrollment_id}}/reject": {
            "post": _admin(
                "reject an open enrollment (its code stops working); the body is optional",
                _ok("Enrollment", "the enrollment"),
                404,
                409,
                body="EnrollmentRejection",
            )
        },
        f"{prefix}/audit": {
            "get": _admin(
                "audit events, newest first",
                (200, _list("AuditEvent", "a page of events")),
                400,
                query=("org", "limit", "before"),
            )
        },
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    paths: dict[str, Any] = {
        **_token_paths(),
        **_canvas_paths(settings.canvas_landing_path),
        **_public_paths(),
        **_admin_paths(),
        **_enroll_paths(),
        **console_paths(),
        **(_metrics_paths() if settings.metrics else {}),
    }
    _declare_path_parameters(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "forcegate", "version": __version__, "description": "Trust calls from Salesforce orgs."},
        "servers": [{"url": settings.public_url}],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the admin token printed at first start",
                },
                "canvasSession": {"type": "apiKey", "in": "cookie", "name": "forcegate_session"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "the metrics_token setting"},
                "introspectionToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the introspection_token setting",
                },
            },
        },
    }
