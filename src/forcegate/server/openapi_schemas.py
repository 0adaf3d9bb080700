"""The JSON Schemas of the OpenAPI document: ``components/schemas`` and the parameters.

Request bodies are the registry's input models (:mod:`forcegate.registry.inputs`), whose one
declaration per field gives both the admin API's validation and the schema here: each field's type
and bounds, which are required, and no others (``additionalProperties: false``: an unknown field is
refused with 400). Response schemas describe what the handlers and :mod:`forcegate.registry.views`
return; they leave ``additionalProperties`` open, so a field added later does not break a client
that validates.
"""

from __future__ import annotations

from typing import Any

from forcegate.registry.fields import MAX_JSON_INTEGER
from forcegate.registry.inputs import (
    ORG_ID_PATTERN,
    AppChanges,
    AppInput,
    CertificateInput,
    CertificateStateInput,
    EnrollmentRejectionInput,
    OrgChanges,
    OrgInput,
    SecretInput,
)
from forcegate.server.endpoints.admin import DEFAULT_PAGE, MAX_PAGE
from forcegate.stores.enrollment_rows import ENROLLMENT_STATES

__all__ = ["component_schemas", "path_parameter", "query_parameter", "ref"]

Schema = dict[str, Any]

_ORG_ID = f"^(?:{ORG_ID_PATTERN})$"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str | None = None, **bounds: Any) -> Schema:
    schema: Schema = {"type": "string", **bounds}
    if description:
        schema["description"] = description
    return schema


def _nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def _array(items: Schema, description: str | None = None, **bounds: Any) -> Schema:
    schema: Schema = {"type": "array", "items": items, **bounds}
    if description:
        schema["description"] = description
    return schema


def _object(properties: dict[str, Schema], *, required: tuple[str, ...] = (), closed: bool = False) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _timestamp(description: str) -> Schema:
    return _string(f"{description} (ISO 8601, UTC, whole seconds)", format="date-time")


# --- request bodies (admin API): the registry's input models say what they accept ------------------

_INPUTS = (
    AppInput,
    AppChanges,
    SecretInput,
    OrgInput,
    OrgChanges,
    CertificateInput,
    CertificateStateInput,
    EnrollmentRejectionInput,
)


# --- responses ---------------------------------------------------------------------------------------


def _error() -> Schema:
    return _object(
        {
            "error": _string("the OAuth error (RFC 6749 §5.2, RFC 6750 §3.1)"),
            "error_description": _string("why, for people (given to the admin, and for errors in the request's shape)"),
            "code": _string("forcegate's stable code of the check that failed (given with error_description)"),
        },
        required=("error",),
    )


def _app() -> Schema:
    secret = _object(
        {"id": {"type": "integer"}, "created_at": _timestamp("when it was added")}, required=("id", "created_at")
    )
    properties = {
        "consumer_key": _string(),
        "name": _string(),
        "any_org": {"type": "boolean"},
        "canvas_trust": _string(
            "bound-orgs: its secret opens Canvas sessions only for the orgs bound to it; "
            "any-org (weaker, legacy): for every org"
        ),
        "canvas_name": {
            "type": ["string", "null"],
            "description": "the Canvas app's developer name, which routes requests to /canvas (null: not known)",
        },
        "bound_orgs": {"type": "integer", "description": "how many orgs the app is bound to"},
        "created_at": _timestamp("when it was registered"),
        "active_secrets": _array(secret, "the active consumer secrets, newest first (never their value)"),
    }
    return _object(properties, required=tuple(properties))


def _secret_created() -> Schema:
    return _object(
        {
            "id": {"type": "integer"},
            "created_at": _timestamp("when it was added"),
        },
        required=("id", "created_at"),
    )


def _certificate() -> Schema:
    properties = {
        "sha256_fingerprint": _string("SHA-256 of the DER, lowercase hex", pattern="^[0-9a-f]{64}$"),
        "x5t#S256": _string("the same digest, base64url (RFC 7515 §4.1.8)"),
        "label": _string(),
        "subject": _string("the subject DN (RFC 4514)"),
        "not_before": _timestamp("start of validity"),
        "not_after": _timestamp("end of validity"),
        "state": {"enum": ["active", "retired"]},
        "shared": {"type": "boolean", "description": "trusted for other orgs too: any of them can sign as the others"},
        "created_at": _timestamp("when it was registered"),
        "retire_at": _nullable(_timestamp("a rotation replaced it: trusted until then (the overlap)")),
    }
    return _object(properties, required=tuple(properties))


def _enrollment() -> Schema:
    properties = {
        "id": _string("the enrollment's id (public; its one-time code is never shown)", pattern="^enr_[a-z2-7]{20}$"),
        "org_id": _string("the canonical 18-character org id"),
        "user_id": _string("the Salesforce user who enrolled"),
        "username": _string("their username"),
        "state": {"enum": list(ENROLLMENT_STATES)},
        "sha256_fingerprint": _string("SHA-256 of the certificate's DER, lowercase hex", pattern="^[0-9a-f]{64}$"),
        "subject": _string("the certificate's subject DN (RFC 4514)"),
        "not_after": _timestamp("end of the certificate's validity"),
        "code_expires_at": _timestamp("until when the enrollment code may prove possession"),
        "proven_at": _nullable(_timestamp("when the org proved it holds the key")),
        "decided_by": _nullable(
            _string("who approved or rejected it (`policy:auto`, `policy:listed`, `policy:rotation`, an entry)")
        ),
        "reason": _string("why it was rejected or expired"),
        "created_at": _timestamp("when it was started"),
        "updated_at": _timestamp("its last change"),
        "replaces_fingerprint": _nullable(
            _string("a rotation from the org: the certificate whose key signed it", pattern="^[0-9a-f]{64}$")
        ),
    }
    return _object(properties, required=tuple(properties))


def _org_properties() -> dict[str, Schema]:
    return {
        "org_id": _string("the canonical 18-character org id"),
        "name": _string(),
        "enabled": {"type": "boolean"},
        "issuers": _array(_string(), "the `iss` values accepted (the org id when none were given)"),
        "subjects": _nullable(_array(_string(), "the `sub` values accepted; null: any")),
        "scopes": _array(_string()),
        "algorithms": _array(_string(), "the JWS algorithms its assertions may use"),
        "max_assertion_lifetime": {"type": ["integer", "null"]},
        "token_lifetime": {"type": ["integer", "null"]},
        "created_at": _timestamp("when it was registered"),
        "updated_at": _timestamp("when it was last changed"),
    }


def _org(*, with_certificates: bool) -> Schema:
    properties = _org_properties()
    if with_certificates:
        properties["certificates"] = _array(ref("Certificate"), "newest first")
    return _object(properties, required=tuple(properties))


def _audit_event() -> Schema:
    text = _nullable(_string())
    properties = {
        "id": {"type": "integer", "description": "increasing: page with `before`"},
        "at": _timestamp("when it was decided"),
        "endpoint": _string(),
        "credential": _string("jwt-bearer, jwt, access-token, bearer, canvas, session or admin"),
        "result": {"enum": ["allowed", "denied"]},
        "code": _string("`ok`, or the stable code of the check that failed"),
        "detail": _string("the precise reason (never a secret or a token)"),
        "org_id": text,
        "user_id": text,
        "subject": text,
        "issuer": text,
        "client": _nullable(_string("the client's address")),
    }
    return _object(properties, required=tuple(properties))


def _token_response() -> Schema:
    return _object(
        {
            "access_token": _string("an RFC 9068 JWT"),
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "minimum": 1},
            "scope": _string("the granted scopes, space-separated (absent when none)"),
        },
        required=("access_token", "token_type", "expires_in"),
    )


def _identity() -> Schema:
    text = _nullable(_string())
    properties = {
        "source": {"enum": ["canvas", "jwt-bearer", "jwt"]},
        "org_id": _string(),
        "user_id": text,
        "username": text,
        "instance_url": text,
        "record_id": text,
        "parameters": {"type": "object", "description": "the custom parameters (Canvas or the JWT `params` claim)"},
        "scopes": _array(_string(), "sorted"),
        "issuer": _string("what vouched for the identity: the assertion's `iss` or the Canvas consumer key"),
        "expires_at": {"type": ["number", "null"], "description": "seconds since the epoch"},
    }
    return _object(properties, required=tuple(properties))


def _introspection() -> Schema:
    return _object(
        {
            "active": {"type": "boolean", "description": "false, and nothing else, for any token not live here"},
            "token_type": {"const": "Bearer"},
            "scope": _string("space-separated"),
            "client_id": _string(),
            "sub": _string("the user id, else the org id"),
            "username": _string(),
            "exp": {"type": "integer"},
            "iss": _string(format="uri"),
            "aud": _string(format="uri"),
            "jti": _string(),
            "org_id": _string(),
            "user_id": _string(),
            "instance_url": _string(),
        },
        required=("active",),
    )


def _jwks() -> Schema:
    key = _object(
        {
            "kty": {"const": "EC"},
            "crv": {"const": "P-256"},
            "x": _string("base64url"),
            "y": _string("base64url"),
            "use": {"const": "sig"},
            "alg": {"const": "ES256"},
            "kid": _string("the RFC 7638 thumbprint"),
        },
        required=("kty", "crv", "x", "y", "use", "alg", "kid"),
    )
    return _object({"keys": _array(key)}, required=("keys",))


def _metadata() -> Schema:
    uri = _string(format="uri")
    names = _array(_string())
    properties = {
        "issuer": uri,
        "token_endpoint": uri,
        "jwks_uri": uri,
        "introspection_endpoint": uri,
        "revocation_endpoint": uri,
        "grant_types_supported": names,
        "token_endpoint_auth_methods_supported": names,
        "introspection_endpoint_auth_methods_supported": names,
        "revocation_endpoint_auth_methods_supported": names,
        "response_types_supported": names,
        "service_documentation": uri,
    }
    return _object(properties, required=tuple(properties))


def _readiness() -> Schema:
    return _object(
        {
            "status": {"enum": ["ok", "unavailable"]},
            "checks": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "each store's check: `ok`, or what is wrong",
            },
        },
        required=("status", "checks"),
    )


def component_schemas() -> dict[str, Schema]:
    return {
        "Error": _error(),
        **{model.schema_name: model.json_schema() for model in _INPUTS},
        "App": _app(),
        "SecretCreated": _secret_created(),
        "Certificate": _certificate(),
        "Enrollment": _enrollment(),
        "OrgCertificates": _object(
            {
                "org_id": _string("the calling org"),
                "checked_at": _timestamp("the service's time of the answer"),
                "certificates": _array(
                    {
                        "allOf": [
                            ref("Certificate"),
                            _object(
                                {
                                    "days_to_expiry": {
                                        "type": "integer",
                                        "description": "whole days left (< 0: expired)",
                                    }
                                },
                                required=("days_to_expiry",),
                            ),
                        ]
                    },
                    "its active certificates, newest first",
                ),
            },
            required=("org_id", "checked_at", "certificates"),
        ),
        "EnrollmentProof": _object(
            {
                "enrollment_id": _string(),
                "org_id": _string("the canonical 18-character org id"),
                "state": {"enum": ["pending_approval", "active"]},
            },
            required=("enrollment_id", "org_id", "state"),
        ),
        "Rotation": _object(
            {
                "org_id": _string("the canonical 18-character org id"),
                "enrollment_id": _string("the rotation, as recorded in the enrollment queue"),
                "state": {"enum": ["pending_approval", "active"]},
                "certificate": {"anyOf": [ref("Certificate"), {"type": "null"}]},
                "retiring": _nullable(
                    _object(
                        {
                            "sha256_fingerprint": _string("the certificate that signed the rotation"),
                            "retire_at": _timestamp("trusted until then (the overlap)"),
                        },
                        required=("sha256_fingerprint", "retire_at"),
                    )
                ),
            },
            required=("org_id", "enrollment_id", "state", "certificate", "retiring"),
        ),
        "Org": _org(with_certificates=False),
        "OrgWithCertificates": _org(with_certificates=True),
        "AuditEvent": _audit_event(),
        "TokenResponse": _token_response(),
        "Identity": _identity(),
        "IntrospectionResponse": _introspection(),
        "JWKSet": _jwks(),
        "AuthorizationServerMetadata": _metadata(),
        "Health": _object({"status": {"const": "ok"}}, required=("status",)),
        "Readiness": _readiness(),
    }


# --- parameters ------------------------------------------------------------------------------------


def query_parameter(name: str) -> Schema:
    description, schema = {
        "after": ("list the orgs whose id sorts after this one (the last org_id of the previous page)", _string()),
        "limit": (
            f"how many to return; a value outside 1..{MAX_PAGE} is clamped",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
        ),
        "org": ("only those of this org", _string(pattern=_ORG_ID)),
        "state": (
            "only enrollments in this state (repeatable)",
            {"type": "array", "items": {"enum": list(ENROLLMENT_STATES)}},
        ),
        "before": (
            "only the events whose id is below this one (the last id of the previous page)",
            {"type": "integer", "minimum": -MAX_JSON_INTEGER, "maximum": MAX_JSON_INTEGER},
        ),
    }[name]
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def path_parameter(name: str) -> Schema:
    description, schema = {
        "consumer_key": ("the Connected App's consumer key", {"type": "string"}),
        "org_id": ("the org id, 15 or 18 characters", {"type": "string", "pattern": _ORG_ID}),
        "enrollment_id": ("the enrollment's id", {"type": "string"}),
        "fingerprint": (
            "the certificate's SHA-256 fingerprint in hex (colons allowed), or a unique prefix of 8+ digits",
            {"type": "string", "pattern": "^[0-9A-Fa-f:]+$"},
        ),
    }[name]
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}
