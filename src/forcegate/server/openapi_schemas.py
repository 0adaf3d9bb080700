"""The JSON Schemas of the OpenAPI document: ``components/schemas`` and the parameters.

Request bodies say exactly what :mod:`forcegate.server.admin_api` accepts (and the stores then
check): each field's type and bounds, which are required, and no others (``additionalProperties:
false``: an unknown field is refused with 400). Response schemas describe what the handlers and
:mod:`forcegate.stores.views` return; they leave ``additionalProperties`` open, so a field added
later does not break a client that validates.
"""

from __future__ import annotations

from typing import Any

from forcegate.server.admin_api import DEFAULT_PAGE, MAX_INTEGER, MAX_PAGE
from forcegate.stores.models import CONSUMER_KEY_PATTERN
from forcegate.stores.values import MAX_KEEP_PREVIOUS, MAX_NAME_LENGTH, MAX_POLICY_SECONDS

__all__ = ["ORG_ID_PATTERN", "component_schemas", "path_parameter", "query_parameter", "ref"]

Schema = dict[str, Any]

#: A 15- or 18-character org id (key prefix ``00D``); the 18-character form may be case-folded.
ORG_ID_PATTERN = "^00[Dd][0-9A-Za-z]{12}([0-9A-Za-z]{3})?$"
_NO_WHITESPACE = "^\\S+$"


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


def _name(description: str) -> Schema:
    return _string(description, maxLength=MAX_NAME_LENGTH)


def _lifetime(description: str) -> Schema:
    return {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_POLICY_SECONDS,
        "description": f"{description}, in seconds (at most one year); null: the service's setting",
    }


# --- request bodies (admin API) ---------------------------------------------------------------------


def _org_fields() -> dict[str, Schema]:
    """The fields an org is registered or changed with (all but ``org_id``)."""
    entry = _string(minLength=1, maxLength=MAX_NAME_LENGTH, pattern="\\S")
    return {
        "name": _name("a label for people"),
        "enabled": {"type": "boolean", "description": "a disabled org is refused on every path"},
        "issuers": _array(
            entry,
            "the `iss` values its assertions may carry (duplicates dropped); empty: the org id itself",
        ),
        "subjects": _nullable(
            _array(entry, "the only `sub` values accepted; null: any subject (an empty list is refused)", minItems=1)
        ),
        "scopes": _array(
            _string(minLength=1, maxLength=MAX_NAME_LENGTH, pattern=_NO_WHITESPACE),
            "the scopes its tokens may carry",
        ),
        "max_assertion_lifetime": _lifetime("the longest assertion lifetime accepted from this org"),
        "token_lifetime": _lifetime("the lifetime of the access tokens issued to this org"),
    }


def _org_create() -> Schema:
    properties = {"org_id": _string("the org id, 15 or 18 characters", pattern=ORG_ID_PATTERN), **_org_fields()}
    properties["enabled"] = {**properties["enabled"], "default": True}
    return _object(properties, required=("org_id",), closed=True)


def _app_create() -> Schema:
    return _object(
        {
            "consumer_key": _string(
                "the Connected App's consumer key (RFC 3986 unreserved characters)",
                pattern="^" + CONSUMER_KEY_PATTERN.pattern + "$",
            ),
            "name": _name("a label for people"),
            "secret": _string("the consumer secret (never returned)", minLength=1),
            "any_org": {
                "type": "boolean",
                "default": False,
                "description": "accept Canvas requests from orgs that are not registered",
            },
        },
        required=("consumer_key", "secret"),
        closed=True,
    )


def _secret_create() -> Schema:
    return _object(
        {
            "secret": _string("the new consumer secret (never returned)", minLength=1),
            "keep_previous": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_KEEP_PREVIOUS,
                "default": 1,
                "description": "how many of the newest older secrets stay active beside the new one",
            },
        },
        required=("secret",),
        closed=True,
    )


def _certificate_create() -> Schema:
    return _object(
        {
            "certificate": _string("exactly one X.509 certificate: PEM, or DER in base64", minLength=1),
            "label": _name("a label for people"),
        },
        required=("certificate",),
        closed=True,
    )


def _certificate_state() -> Schema:
    return _object({"state": {"enum": ["active", "retired"]}}, required=("state",), closed=True)


# --- responses ---------------------------------------------------------------------------------------


def _error() -> Schema:
    return _object(
        {
            "error": _string("the OAuth error (RFC 6749 §5.2, RFC 6750 §3.1), or the admin API's error code"),
            "error_description": _string("why, for people (not always given)"),
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
        "created_at": _timestamp("when it was registered"),
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
        "OrgCreate": _org_create(),
        "OrgUpdate": _object(_org_fields(), closed=True),
        "AppCreate": _app_create(),
        "SecretCreate": _secret_create(),
        "CertificateCreate": _certificate_create(),
        "CertificateStateChange": _certificate_state(),
        "App": _app(),
        "SecretCreated": _secret_created(),
        "Certificate": _certificate(),
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
        "org": ("only the events of this org", _string(pattern=ORG_ID_PATTERN)),
        "before": (
            "only the events whose id is below this one (the last id of the previous page)",
            {"type": "integer", "minimum": -MAX_INTEGER, "maximum": MAX_INTEGER},
        ),
    }[name]
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def path_parameter(name: str) -> Schema:
    description, schema = {
        "consumer_key": ("the Connected App's consumer key", {"type": "string"}),
        "org_id": ("the org id, 15 or 18 characters", {"type": "string", "pattern": ORG_ID_PATTERN}),
        "fingerprint": (
            "the certificate's SHA-256 fingerprint in hex (colons allowed), or a unique prefix of 8+ digits",
            {"type": "string", "pattern": "^[0-9A-Fa-f:]+$"},
        ),
    }[name]
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}
