"""Input models: one declaration per field, from which both validation and the JSON Schema follow.

An input model is a frozen dataclass whose fields carry a :class:`Spec` in their metadata. Building
one (from Python, as the CLI does, or from a JSON object with :meth:`InputModel.from_json`, as the
admin API does) checks every field against its spec and normalises it (an org id to 18 characters,
a list to a tuple); :meth:`InputModel.json_schema` writes the same rules as a JSON Schema for the
OpenAPI document. So the CLI, the admin API and the document cannot disagree on what a field accepts.

A field the caller did not give keeps its default; in a *changes* model every default is
:data:`UNSET` ("leave it as it is"). A refused value is :class:`~forcegate.errors.InvalidInput`
naming the field.

Written here rather than taken from pydantic: the registry, and so this module, is part of the base
install that the CLI runs on (``cryptography``, ``orjson``, ``click``); see decision 0011.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, dataclass_transform

from forcegate.errors import InvalidInput
from forcegate.stores.protocols import UNSET

__all__ = [
    "UNSET",
    "InputModel",
    "Spec",
    "boolean",
    "check_display_text",
    "choice",
    "input_model",
    "integer",
    "spec",
    "string",
    "strings",
]

_M = TypeVar("_M", bound="InputModel")
Check = Callable[[Any], Any]
Schema = dict[str, Any]

# RFC 7493 (I-JSON) §2.2: integers beyond ±(2**53 - 1) are not interoperable.
MAX_JSON_INTEGER = 2**53 - 1


@dataclass(frozen=True, slots=True)
class Spec:
    """What one field accepts.

    ``check`` receives a value already of the right JSON type and returns it normalised (or raises
    :class:`InvalidInput` with a reason that does not name the field: the model adds it).
    ``nullable``: ``None`` is a meaningful value (e.g. "any subject", "the service's default").
    ``schema``: the field's JSON Schema, without ``description`` (added from ``description``).
    """

    description: str
    schema: Schema
    check: Check
    nullable: bool = False
    required: bool = False
    secret: bool = False


def spec(value: Spec) -> dict[str, Spec]:
    """The ``metadata`` of a dataclass field: ``field(default=…, metadata=spec(string(…)))``."""
    return {"spec": value}


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _fail(message: str) -> InvalidInput:
    return InvalidInput(message)


# --- field kinds ------------------------------------------------------------------------------------

# Characters that change how text is displayed or read without being visible: C0/C1 controls, the
# line/paragraph separators and the Unicode bidirectional controls (CVE-2021-42574, "Trojan Source").
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def check_display_text(value: str) -> str:
    """Refuse control and bidirectional-override characters in text shown to people."""
    found = _INVISIBLE.search(value)
    if found is not None:
        name = unicodedata.name(found.group(), f"U+{ord(found.group()):04X}")
        raise _fail(f"contains the control or bidirectional character {name} at position {found.start()}")
    return value


def string(
    description: str,
    *,
    min_length: int = 0,
    max_length: int = 255,
    pattern: str | None = None,
    explain: str | None = None,
    display: bool = False,
    check: Check | None = None,
    nullable: bool = False,
    required: bool = False,
    secret: bool = False,
    **schema: Any,
) -> Spec:
    """A string of ``min_length``..``max_length`` characters, matching ``pattern`` (whole) when given.

    ``explain`` says what the pattern means, for the refusal's message. ``display``: text shown to
    people (names, labels): no control or bidirectional characters. ``check`` runs last, on the
    checked string.
    """
    compiled = re.compile(pattern) if pattern is not None else None

    def run(value: Any) -> Any:
        if not isinstance(value, str):
            raise _fail(f"must be a string, not {_type_name(value)}")
        if len(value) < min_length:
            raise _fail("must not be empty" if min_length == 1 else f"must have at least {min_length} characters")
        if len(value) > max_length:
            raise _fail(f"has {len(value)} characters; at most {max_length}")
        if compiled is not None and not compiled.fullmatch(value):
            raise _fail(f"must be {explain}" if explain else f"must match {pattern}")
        if display:
            check_display_text(value)
        return value if check is None else check(value)

    shape: Schema = {"type": "string", **schema}
    if min_length:
        shape["minLength"] = min_length
    shape["maxLength"] = max_length
    if pattern is not None:
        shape["pattern"] = f"^(?:{pattern})$"
    return Spec(description, shape, run, nullable=nullable, required=required, secret=secret)


def boolean(description: str, *, required: bool = False, **schema: Any) -> Spec:
    def run(value: Any) -> Any:
        if not isinstance(value, bool):
            raise _fail(f"must be true or false, not {_type_name(value)}")
        return value

    return Spec(description, {"type": "boolean", **schema}, run, required=required)


def integer(
    description: str, *, minimum: int, maximum: int, nullable: bool = False, required: bool = False, **schema: Any
) -> Spec:
    def run(value: Any) -> Any:
        # bool is an int subclass in Python, and JSON true is not a number.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(f"must be a whole number, not {_type_name(value)}")
        if not minimum <= value <= maximum:
            raise _fail(f"must be from {minimum} to {maximum}")
        return value

    shape: Schema = {"type": "integer", "minimum": minimum, "maximum": maximum, **schema}
    return Spec(description, shape, run, nullable=nullable, required=required)


def choice(description: str, values: Sequence[str], *, required: bool = False) -> Spec:
    allowed = tuple(values)

    def run(value: Any) -> Any:
        if not isinstance(value, str) or value not in allowed:
            raise _fail(f"must be one of {', '.join(allowed)}")
        return value

    return Spec(description, {"enum": list(allowed)}, run, required=required)


def strings(
    description: str,
    item: Spec,
    *,
    min_items: int = 0,
    max_items: int = 1000,
    nullable: bool = False,
    required: bool = False,
) -> Spec:
    """A list of ``item`` (a JSON array, a Python list or tuple) as a tuple: duplicates dropped, order kept."""

    def run(value: Any) -> Any:
        # A str is a Sequence too: one org id without its list brackets must not become characters.
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise _fail(f"must be a list, not {_type_name(value)}")
        if len(value) > max_items:
            raise _fail(f"has {len(value)} items; at most {max_items}")
        kept: dict[str, None] = {}
        for position, entry in enumerate(value):
            try:
                kept[item.check(entry)] = None
            except InvalidInput as exc:
                raise _fail(f"item {position} {exc.reason}") from None
        if len(kept) < min_items:
            raise _fail(f"must have at least {min_items} item(s)")
        return tuple(kept)

    shape: Schema = {"type": "array", "items": item.schema, "maxItems": max_items}
    if min_items:
        shape["minItems"] = min_items
    return Spec(description, shape, run, nullable=nullable, required=required)


# --- models -----------------------------------------------------------------------------------------

_T = TypeVar("_T")


@dataclass_transform(kw_only_default=True, frozen_default=True)
def input_model(cls: type[_T]) -> type[_T]:
    """Make ``cls`` (an :class:`InputModel` subclass) a frozen, keyword-only dataclass that keeps
    the base's secret-free ``repr``."""
    return dataclass(frozen=True, kw_only=True, repr=False)(cls)


@dataclass(frozen=True, kw_only=True)
class InputModel:
    """Base of the registry's input models (see the module docstring)."""

    #: The name of the schema in the OpenAPI document's ``components/schemas``.
    schema_name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            field_spec: Spec = field.metadata["spec"]
            value = getattr(self, field.name)
            if value is UNSET or (value is None and field_spec.nullable):
                continue
            try:
                normalised = field_spec.check(value)
            except InvalidInput as exc:
                raise InvalidInput(f"{field.name} {exc.reason}") from None
            object.__setattr__(self, field.name, normalised)

    @classmethod
    def specs(cls) -> dict[str, Spec]:
        return {field.name: field.metadata["spec"] for field in dataclasses.fields(cls)}

    @classmethod
    def from_json(cls: type[_M], data: object) -> _M:
        """The model from a decoded JSON object: unknown fields refused, required ones present."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"the body must be a JSON object, not {_type_name(data)}")
        specs = cls.specs()
        unknown = sorted(str(name) for name in data if name not in specs)
        if unknown:
            raise InvalidInput(f"unknown field(s): {', '.join(unknown)[:200]}")
        for name, field_spec in specs.items():
            if field_spec.required and name not in data:
                raise InvalidInput(f"{name} is required")
            if data.get(name, UNSET) is None and not field_spec.nullable:
                raise InvalidInput(f"{name} must not be null")
        return cls(**{name: data[name] for name in specs if name in data})

    def given(self) -> dict[str, Any]:
        """The fields that are set (not :data:`UNSET`), by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not UNSET}

    @classmethod
    def json_schema(cls) -> Schema:
        """A closed JSON Schema object (unknown fields refused), as :meth:`from_json` checks."""
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in dataclasses.fields(cls):
            field_spec: Spec = field.metadata["spec"]
            # A deep copy: the document is built afresh for each caller, sharing nothing with the specs.
            shape = copy.deepcopy(field_spec.schema)
            if field_spec.nullable:
                shape = {"anyOf": [shape, {"type": "null"}]} if "type" not in shape else _with_null(shape)
            shape["description"] = field_spec.description
            default = field.default
            if default is not dataclasses.MISSING and default is not UNSET and not field_spec.secret:
                shape["default"] = list(default) if isinstance(default, tuple) else default
            properties[field.name] = shape
            if field_spec.required:
                required.append(field.name)
        schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema

    def __repr__(self) -> str:
        # Secret fields (a consumer secret) never reach a log through a repr.
        shown = ", ".join(
            f"{f.name}={'<secret>' if f.metadata['spec'].secret else repr(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not UNSET
        )
        return f"{type(self).__name__}({shown})"


def _with_null(shape: Schema) -> Schema:
    kind = shape["type"]
    return {**shape, "type": [*kind, "null"] if isinstance(kind, list) else [kind, "null"]}
