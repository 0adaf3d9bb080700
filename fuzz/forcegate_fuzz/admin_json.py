"""Fuzz target ``admin_json``: the admin API's JSON bodies into the registry's input models.

The first byte picks the model (``AppInput``, ``SecretInput``, ``OrgInput``, ``OrgChanges``,
``CertificateInput``, ``CertificateStateInput``, in that order); the rest is the request body. It
is read as the admin API reads it — ``orjson.loads``, whose ``JSONDecodeError`` the API turns into
``RequestError`` — then given to the model's ``from_json``.

Invariants: ``from_json`` returns a model or raises a ForcegateError. A model it returns must
print without its secrets, and the body must satisfy the model's own JSON Schema (the one the
OpenAPI document shows): the registry promises the admin API and the document cannot disagree,
and a body the API accepts but the document forbids is a disagreement. (The converse does not
hold by design: some rules — an org id's checksum, a secret's strength — are not expressible in
the schema.)
"""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator

from forcegate.registry.fields import InputModel
from forcegate.registry.inputs import (
    AppInput,
    CertificateInput,
    CertificateStateInput,
    OrgChanges,
    OrgInput,
    SecretInput,
)
from forcegate_fuzz._support import check, refused

__all__ = ["MODELS", "test_one_input"]

MODELS: tuple[type[InputModel], ...] = (
    AppInput,
    SecretInput,
    OrgInput,
    OrgChanges,
    CertificateInput,
    CertificateStateInput,
)


# The schemas as the OpenAPI document shows them, compiled once.
_SCHEMAS = {model: Draft202012Validator(model.json_schema()) for model in MODELS}


def test_one_input(data: bytes) -> None:
    if not data:
        return
    model, body = MODELS[data[0] % len(MODELS)], data[1:]
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # the admin API's _json_body: RequestError("the body is not valid JSON")
    given = refused(lambda: model.from_json(document))
    if given is None:
        return
    shown = repr(given)
    for name, spec in model.specs().items():
        if spec.secret and name in given.given():
            check(f"{name}=<secret>" in shown, f"repr() of {model.__name__} shows {name}")
    errors = [error.message[:200] for error in _SCHEMAS[model].iter_errors(document)]
    check(not errors, f"{model.__name__} accepted a body its JSON Schema refuses: {errors}")
