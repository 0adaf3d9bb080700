"""What the registry accepts from its callers: one input model per resource and action.

The CLI builds these from its options, the admin API from JSON bodies (:meth:`InputModel.from_json`),
and the OpenAPI document shows their :meth:`InputModel.json_schema`. Value rules that depend on
nothing but the value live here; rules that need the registry (is this certificate trusted for
another org?) live in :mod:`forcegate.registry.service`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

from forcegate.core import ids
from forcegate.core.algorithms import ASSERTION_ALGORITHMS
from forcegate.errors import InvalidInput
from forcegate.keys.load import MAX_KEYSTORE_BYTES
from forcegate.registry.fields import (
    UNSET,
    InputModel,
    Spec,
    boolean,
    choice,
    input_model,
    integer,
    spec,
    string,
    strings,
)
from forcegate.registry.policy import check_consumer_secret
from forcegate.stores.models import CANVAS_NAME_PATTERN, CONSUMER_KEY_PATTERN, DEFAULT_ORG_ALGORITHMS, Org, OrgPolicy
from forcegate.stores.values import MAX_KEEP_PREVIOUS, MAX_NAME_LENGTH, POLICY_COLUMNS

__all__ = [
    "MAX_ORG_SECONDS",
    "ORG_ID_PATTERN",
    "AppChanges",
    "AppInput",
    "CertificateInput",
    "CertificateStateInput",
    "EnrollmentRejectionInput",
    "OrgChanges",
    "OrgInput",
    "SecretInput",
]

#: A 15- or 18-character org id (key prefix ``00D``); the 18-character form may be case-folded.
ORG_ID_PATTERN = "00[Dd][0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?"
#: RFC 6749 §3.3: a scope token is one or more NQCHAR (printable ASCII but space, '"' and '\').
SCOPE_PATTERN = r"[\x21\x23-\x5b\x5d-\x7e]+"
#: The longest per-org lifetime (assertion or access token): a day. Apex assertions live minutes and
#: tokens are refreshed by a new exchange; anything longer only widens what a leak exposes.
MAX_ORG_SECONDS = 86_400


def _canonical_org_id(value: str) -> str:
    # InvalidSalesforceId says precisely what is wrong (length, characters, prefix, checksum).
    return ids.validate(value, prefix=ids.ORG_PREFIX)


def _org_id(*, required: bool) -> Spec:
    described = string(
        "the org id, 15 or 18 characters (kept in its 18-character form)",
        max_length=18,
        check=_canonical_org_id,
        required=required,
    )
    # The schema documents the form; the check's own errors say which part of it is wrong.
    return dataclasses.replace(described, schema={**described.schema, "pattern": f"^(?:{ORG_ID_PATTERN})$"})


def _name(what: str) -> Spec:
    return string(f"a label for people ({what})", max_length=MAX_NAME_LENGTH, display=True)


_ENTRY = string(
    "one value",
    min_length=1,
    max_length=MAX_NAME_LENGTH,
    pattern=r"\S(?:.*\S)?",
    explain="text without surrounding whitespace",
    display=True,
)


def _org_fields() -> dict[str, Any]:
    """The fields an org is registered or changed with, as ``field(metadata=…)`` keyword arguments."""
    return {
        "name": _name("the org"),
        "enabled": boolean("a disabled org is refused on every path"),
        "issuers": strings(
            "the `iss` values its assertions may carry (duplicates dropped); empty: the org id itself. "
            "A Connected App's consumer key, or a Named Credential's static issuer, here lets assertions "
            "with that `iss` name this org in `org_id` (decision 0020)",
            _ENTRY,
        ),
        "subjects": strings(
            "the only `sub` values accepted; null: any subject (an empty list would refuse every subject)",
            _ENTRY,
            min_items=1,
            nullable=True,
        ),
        "scopes": strings(
            "the scopes its tokens may carry (RFC 6749 §3.3 scope tokens)",
            string(
                "a scope token",
                min_length=1,
                max_length=MAX_NAME_LENGTH,
                pattern=SCOPE_PATTERN,
                explain="a scope token: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)",
            ),
        ),
        "algorithms": strings(
            "the JWS algorithms its assertions may use; `Auth.JWS` signs RS256, External Credentials RS256 or RS512",
            choice("an asymmetric JWS algorithm", sorted(ASSERTION_ALGORITHMS)),
            min_items=1,
        ),
        "apps": strings(
            "the Connected Apps (consumer keys) whose Canvas signed requests may open sessions for this org",
            string(
                "a consumer key",
                min_length=1,
                pattern=CONSUMER_KEY_PATTERN.pattern,
                explain="1 to 255 letters, digits, '.', '_', '-' or '~'",
            ),
        ),
        "max_assertion_lifetime": integer(
            "the longest assertion lifetime accepted from this org, in seconds; null: the service's setting",
            minimum=1,
            maximum=MAX_ORG_SECONDS,
            nullable=True,
        ),
        "token_lifetime": integer(
            "the lifetime of the access tokens issued to this org, in seconds; null: the service's setting",
            minimum=1,
            maximum=MAX_ORG_SECONDS,
            nullable=True,
        ),
    }


_ORG = _org_fields()


_CANVAS_NAME = string(
    "the Canvas app's developer name, `ns__Name` in a managed package, as signed requests name it in "
    "context.application: requests to the shared /canvas endpoint are checked against this app's "
    "secrets only; null: not known",
    max_length=96,
    pattern=CANVAS_NAME_PATTERN.pattern,
    explain="a Salesforce developer name (letters, digits, single underscores), optionally as ns__Name",
    nullable=True,
)


@input_model
class AppInput(InputModel):
    """A Connected App whose Canvas signed requests are accepted, with its first consumer secret."""

    schema_name = "AppCreate"

    consumer_key: str = field(
        metadata=spec(
            string(
                "the Connected App's consumer key (RFC 3986 unreserved characters)",
                min_length=1,
                pattern=CONSUMER_KEY_PATTERN.pattern,
                explain="1 to 255 letters, digits, '.', '_', '-' or '~'",
                required=True,
            )
        )
    )
    secret: str = field(
        metadata=spec(
            string(
                "the consumer secret (never returned): at least 16 characters, no surrounding whitespace",
                max_length=1024,
                check=check_consumer_secret,
                required=True,
                secret=True,
            )
        )
    )
    name: str = field(default="", metadata=spec(_name("the app")))
    any_org: bool = field(
        default=False,
        metadata=spec(boolean("accept Canvas requests from orgs that are not registered (the weaker legacy model)")),
    )
    canvas_name: str | None = field(default=None, metadata=spec(_CANVAS_NAME))


@input_model
class AppChanges(InputModel):
    """Some fields of an app to change; the others (left :data:`UNSET`) stay as they are."""

    schema_name = "AppUpdate"

    canvas_name: str | Any | None = field(default=UNSET, metadata=spec(_CANVAS_NAME))


@input_model
class SecretInput(InputModel):
    """A new consumer secret for an app (a rotation)."""

    schema_name = "SecretCreate"

    secret: str = field(
        metadata=spec(
            string(
                "the new consumer secret (never returned)",
                max_length=1024,
                check=check_consumer_secret,
                required=True,
                secret=True,
            )
        )
    )
    keep_previous: int = field(
        default=1,
        metadata=spec(
            integer(
                "how many of the newest older secrets stay active beside the new one (0 retires them all now)",
                minimum=0,
                maximum=MAX_KEEP_PREVIOUS,
            )
        ),
    )


@input_model
class OrgInput(InputModel):
    """An org to register."""

    schema_name = "OrgCreate"

    org_id: str = field(metadata=spec(_org_id(required=True)))
    name: str = field(default="", metadata=spec(_ORG["name"]))
    enabled: bool = field(default=True, metadata=spec(_ORG["enabled"]))
    issuers: tuple[str, ...] = field(default=(), metadata=spec(_ORG["issuers"]))
    subjects: tuple[str, ...] | None = field(default=None, metadata=spec(_ORG["subjects"]))
    scopes: tuple[str, ...] = field(default=(), metadata=spec(_ORG["scopes"]))
    algorithms: tuple[str, ...] = field(default=DEFAULT_ORG_ALGORITHMS, metadata=spec(_ORG["algorithms"]))
    apps: tuple[str, ...] = field(default=(), metadata=spec(_ORG["apps"]))
    max_assertion_lifetime: int | None = field(default=None, metadata=spec(_ORG["max_assertion_lifetime"]))
    token_lifetime: int | None = field(default=None, metadata=spec(_ORG["token_lifetime"]))

    def org(self) -> Org:
        """The org as the store keeps it (its Canvas app bindings apart)."""
        policy = OrgPolicy(**{name: getattr(self, name) for name in POLICY_COLUMNS})
        return Org(
            org_id=self.org_id,
            name=self.name,
            enabled=self.enabled,
            issuers=self.issuers,
            subjects=self.subjects,
            scopes=self.scopes,
            algorithms=self.algorithms,
            policy=policy,
        )


@input_model
class OrgChanges(InputModel):
    """Some fields of an org to change; the others (left :data:`UNSET`) stay as they are."""

    schema_name = "OrgUpdate"

    name: str | Any = field(default=UNSET, metadata=spec(_ORG["name"]))
    enabled: bool | Any = field(default=UNSET, metadata=spec(_ORG["enabled"]))
    issuers: tuple[str, ...] | Any = field(default=UNSET, metadata=spec(_ORG["issuers"]))
    subjects: tuple[str, ...] | Any | None = field(default=UNSET, metadata=spec(_ORG["subjects"]))
    scopes: tuple[str, ...] | Any = field(default=UNSET, metadata=spec(_ORG["scopes"]))
    algorithms: tuple[str, ...] | Any = field(default=UNSET, metadata=spec(_ORG["algorithms"]))
    apps: tuple[str, ...] | Any = field(default=UNSET, metadata=spec(_ORG["apps"]))
    max_assertion_lifetime: int | Any | None = field(default=UNSET, metadata=spec(_ORG["max_assertion_lifetime"]))
    token_lifetime: int | Any | None = field(default=UNSET, metadata=spec(_ORG["token_lifetime"]))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.given():
            raise InvalidInput("nothing to change: give at least one field")


@input_model
class CertificateInput(InputModel):
    """A certificate to trust for an org, as text (PEM, or DER in base64)."""

    schema_name = "CertificateCreate"

    certificate: str = field(
        metadata=spec(
            string(
                "exactly one X.509 certificate: PEM, or DER in base64",
                min_length=1,
                max_length=2 * MAX_KEYSTORE_BYTES,
                required=True,
            )
        )
    )
    label: str = field(default="", metadata=spec(_name("the certificate")))
    shared: bool = field(
        default=False,
        metadata=spec(
            boolean(
                "trust it although another org already does: any org holding its key can then sign as the "
                "others (the weaker shared-certificate model)"
            )
        ),
    )


@input_model
class CertificateStateInput(InputModel):
    """Retire a certificate, or trust a retired one again."""

    schema_name = "CertificateStateChange"

    state: str = field(
        metadata=spec(
            choice("active verifies the org's assertions; retired does not", ("active", "retired"), required=True)
        )
    )


@input_model
class EnrollmentRejectionInput(InputModel):
    """Reject a subscriber enrollment."""

    schema_name = "EnrollmentRejection"

    reason: str = field(
        default="",
        metadata=spec(
            string("why: kept with the enrollment and in the audit log", max_length=MAX_NAME_LENGTH, display=True)
        ),
    )
