"""Checks and conversions of registry values before they reach storage, shared by every backend.

Arguments an operator got wrong are :class:`ConfigurationError` with the field named; org ids are
normalised to the canonical 18-character form (:class:`InvalidSalesforceId` otherwise).
"""

from __future__ import annotations

import dataclasses
import json
import string
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from forcegate.core import ids
from forcegate.errors import ConfigurationError, RegistryError
from forcegate.settings import MAX_LEEWAY
from forcegate.stores.models import (
    CANVAS_NAME_PATTERN,
    CONSUMER_KEY_PATTERN,
    DEFAULT_ORG_ALGORITHMS,
    CertificateState,
    Org,
    OrgPolicy,
)
from forcegate.stores.protocols import UNSET
from forcegate.stores.rate_hit import check_rate_hit

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "MAX_KEEP_PREVIOUS",
    "MAX_NAME_LENGTH",
    "MAX_POLICY_SECONDS",
    "ORG_COLUMNS",
    "ORG_COLUMN_COUNT",
    "POLICY_COLUMNS",
    "REVOCATION_MARGIN",
    "Row",
    "canonical_org_id",
    "check_algorithms",
    "check_apps",
    "check_canvas_name",
    "check_consumer_key",
    "check_fingerprint_prefix",
    "check_flag",
    "check_keep_previous",
    "check_not_last_secret",
    "check_org",
    "check_policy",
    "check_rate_hit",
    "check_secret",
    "check_state",
    "check_strings",
    "check_text",
    "checked_generation",
    "dump_strings",
    "load_strings",
    "org_changes",
    "org_from_row",
    "org_values",
]

#: A row as a driver returns it: an ``sqlite3`` tuple or an ``asyncpg.Record``, columns in query order.
Row: TypeAlias = "Sequence[Any] | asyncpg.Record"

MAX_NAME_LENGTH = 255
#: A revocation outlives the token's expiry by the largest leeway a verifier may grant it: a token
#: still accepted past its ``exp`` (within the leeway) must still read as revoked.
REVOCATION_MARGIN = float(MAX_LEEWAY)
#: How many older consumer secrets a rotation may keep active beside the new one.
MAX_KEEP_PREVIOUS = 100
_HEX = frozenset(string.hexdigits.lower())
#: The per-org overrides, one column each, named as the fields of :class:`OrgPolicy`: a new
#: override is a field there, a migration, and (for callers) a field of the registry's input model.
POLICY_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(OrgPolicy))
_ORG_COLUMN_NAMES = (
    *("org_id", "name", "enabled", "issuers", "subjects", "scopes", "algorithms"),
    *POLICY_COLUMNS,
    *("created_at", "updated_at"),
)
ORG_COLUMNS = ", ".join(_ORG_COLUMN_NAMES)
ORG_COLUMN_COUNT = len(_ORG_COLUMN_NAMES)


def canonical_org_id(value: str) -> str:
    """The canonical 18-character org id (``00D`` prefix), or :class:`InvalidSalesforceId`."""
    return ids.validate(value, prefix=ids.ORG_PREFIX)


def check_text(value: object, field: str, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{field} must be text, not {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ConfigurationError(f"{field} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ConfigurationError(f"{field} has {len(value)} characters; at most {MAX_NAME_LENGTH}")
    return value


def check_apps(value: object) -> tuple[str, ...]:
    """Consumer keys, each checked, duplicates dropped."""
    return tuple(check_consumer_key(key) for key in check_strings(value, "apps"))


def check_consumer_key(value: object) -> str:
    key = check_text(value, "consumer key", allow_empty=False)
    if not CONSUMER_KEY_PATTERN.fullmatch(key):
        raise ConfigurationError("a consumer key is 1 to 255 letters, digits, '.', '_', '-' or '~'")
    return key


def check_canvas_name(value: object) -> str | None:
    """A Canvas app's developer name (``Name`` or ``ns__Name``), or None."""
    if value is None:
        return None
    name = check_text(value, "Canvas app name", allow_empty=False)
    if not CANVAS_NAME_PATTERN.fullmatch(name):
        raise ConfigurationError(
            "a Canvas app name is a Salesforce developer name (letters, digits, single underscores), "
            "optionally behind its namespace prefix: Name or ns__Name"
        )
    return name


def check_secret(value: object, field: str = "consumer secret") -> str:
    # Deliberately no length upper bound in the message and never the value: it is a secret.
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{field} must be a non-empty string")
    return value


def check_flag(value: object, field: str) -> int:
    """A boolean as the 0/1 integer the schema stores (``BOOLEAN`` literals differ between dialects)."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{field} must be True or False")
    return int(value)


def check_keep_previous(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_KEEP_PREVIOUS:
        raise ConfigurationError(f"keep_previous must be a whole number from 0 to {MAX_KEEP_PREVIOUS}")
    return value


def check_strings(value: object, field: str, *, no_spaces: bool = False) -> tuple[str, ...]:
    """A sequence of non-empty strings, duplicates dropped, order kept."""
    # A str is a Sequence too: ("00D…") without the comma would otherwise become single characters.
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | frozenset | set):
        raise ConfigurationError(f"{field} must be a list of strings")
    # A dict keeps the first occurrence in order and drops repeats in linear time (a list membership
    # test made a long list quadratic: seconds of a blocked event loop for one admin request).
    result: dict[str, None] = {}
    for item in value:
        text = check_text(item, f"each of {field}", allow_empty=False)
        if no_spaces and any(c.isspace() for c in text):
            raise ConfigurationError(f"{field}: {text!r} contains whitespace")
        result[text] = None
    return tuple(result)


#: A sanity bound on per-org lifetimes (one year): far beyond any sane setting, and well inside
#: what SQLite's 64-bit integers (and the clock arithmetic done with them) can hold.
MAX_POLICY_SECONDS = 365 * 24 * 3600


def check_policy(value: object) -> OrgPolicy:
    if not isinstance(value, OrgPolicy):
        raise ConfigurationError(f"policy must be an OrgPolicy, not {type(value).__name__}")
    for field in POLICY_COLUMNS:
        seconds = getattr(value, field)
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0):
            raise ConfigurationError(f"policy {field} must be a positive number of seconds or None")
        if seconds is not None and seconds > MAX_POLICY_SECONDS:
            raise ConfigurationError(f"policy {field} must be at most {MAX_POLICY_SECONDS} seconds (one year)")
    return value


def check_org(org: Org) -> Org:
    """``org`` with its id canonical and its fields checked."""
    if not isinstance(org, Org):
        raise ConfigurationError(f"expected an Org, not {type(org).__name__}")
    if not isinstance(org.enabled, bool):
        raise ConfigurationError("enabled must be True or False")
    return Org(
        org_id=canonical_org_id(org.org_id),
        name=check_text(org.name, "org name"),
        enabled=org.enabled,
        issuers=check_strings(org.issuers, "issuers"),
        subjects=None if org.subjects is None else check_strings(org.subjects, "subjects"),
        scopes=check_strings(org.scopes, "scopes", no_spaces=True),
        algorithms=check_algorithms(org.algorithms),
        policy=check_policy(org.policy),
    )


def check_algorithms(value: object) -> tuple[str, ...]:
    """At least one algorithm name (which names the registry accepts is its policy, not the store's)."""
    algorithms = check_strings(value, "algorithms", no_spaces=True)
    if not algorithms:
        raise ConfigurationError("algorithms must name at least one algorithm")
    return algorithms


def check_state(value: object) -> CertificateState:
    if value == "active":
        return "active"
    if value == "retired":
        return "retired"
    raise ConfigurationError(f"a certificate state is 'active' or 'retired', not {value!r}")


def check_fingerprint_prefix(value: object) -> str:
    """Lowercase hex without colons, at least 8 and at most 64 digits."""
    if not isinstance(value, str):
        raise ConfigurationError("a fingerprint is text")
    cleaned = value.strip().replace(":", "").lower()
    if not 8 <= len(cleaned) <= 64 or not set(cleaned) <= _HEX:
        raise ConfigurationError(
            "a certificate fingerprint is the SHA-256 in hex (colons allowed); give at least its first 8 digits"
        )
    return cleaned


def org_values(org: Org, now: float) -> tuple[object, ...]:
    """The values of ``ORG_COLUMNS`` for a new row of the checked ``org``."""
    return (
        org.org_id,
        org.name,
        int(org.enabled),
        dump_strings(org.issuers),
        dump_strings(org.subjects),
        dump_strings(org.scopes),
        dump_strings(org.algorithms),
        *(getattr(org.policy, column) for column in POLICY_COLUMNS),
        now,
        now,
    )


def org_changes(
    *,
    name: object = UNSET,
    enabled: object = UNSET,
    issuers: object = UNSET,
    subjects: object = UNSET,
    scopes: object = UNSET,
    algorithms: object = UNSET,
    policy: object = UNSET,
) -> dict[str, object]:
    """Column -> new value for the fields given to ``TrustStore.update_org`` (checked), ``updated_at`` included.

    The keys are fixed column names, never taken from the caller, so a store may interpolate them.
    """
    changes: dict[str, object] = {}
    if name is not UNSET:
        changes["name"] = check_text(name, "org name")
    if enabled is not UNSET:
        changes["enabled"] = check_flag(enabled, "enabled")
    if issuers is not UNSET:
        changes["issuers"] = dump_strings(check_strings(issuers, "issuers"))
    if subjects is not UNSET:
        changes["subjects"] = None if subjects is None else dump_strings(check_strings(subjects, "subjects"))
    if scopes is not UNSET:
        changes["scopes"] = dump_strings(check_strings(scopes, "scopes", no_spaces=True))
    if algorithms is not UNSET:
        changes["algorithms"] = dump_strings(check_algorithms(algorithms))
    if policy is not UNSET:
        checked = check_policy(policy)
        for column in POLICY_COLUMNS:
            changes[column] = getattr(checked, column)
    changes["updated_at"] = time.time()
    return changes


def checked_generation(value: object) -> int:
    """The registry generation a read returned; its row missing (None) is a damaged schema, refused."""
    if value is None:
        raise RegistryError("the trust_generation row is missing: the schema was altered by hand")
    return int(cast(int, value))


def check_not_last_secret(others_active: int, consumer_key: str, secret_id: int) -> None:
    """Refuse to retire an app's only active secret (``others_active``: its other active secrets)."""
    if others_active == 0:
        # An app without an active secret refuses every Canvas request: make that a deliberate act
        # (delete the app), not a slip during a rotation.
        raise RegistryError(
            f"secret {secret_id} is the only active secret of app {consumer_key!r}; add its "
            "replacement first (or delete the app)"
        )


def dump_strings(values: Sequence[str] | None) -> str | None:
    return None if values is None else json.dumps(list(values), separators=(",", ":"))


def load_strings(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def org_from_row(row: Row) -> Org:
    """An :class:`Org` from a row of ``ORG_COLUMNS``."""
    oid, name, enabled, issuers, subjects, scopes, algorithms, *policy, created_at, updated_at = row
    return Org(
        org_id=oid,
        name=name,
        enabled=bool(enabled),
        issuers=load_strings(issuers) or (),
        subjects=load_strings(subjects),
        scopes=load_strings(scopes) or (),
        algorithms=load_strings(algorithms) or DEFAULT_ORG_ALGORITHMS,
        policy=OrgPolicy(**dict(zip(POLICY_COLUMNS, policy, strict=True))),
        created_at=created_at,
        updated_at=updated_at,
    )
