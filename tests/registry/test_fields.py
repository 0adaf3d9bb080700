"""Input models: one declaration per field gives the check, the normalisation and the JSON Schema."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from forcegate.errors import InvalidInput, InvalidSalesforceId, WeakSecret
from forcegate.registry import AppInput, CertificateInput, OrgChanges, OrgInput, SecretInput
from forcegate.registry.fields import UNSET, InputModel

ORG_15 = "00D5g000004ABCD"
ORG_18 = "00D5g000004ABCDEA4"
SECRET = "a-consumer-secret-of-good-length"


def test_python_and_json_inputs_are_normalised_the_same_way() -> None:
    from_python = OrgInput(org_id=ORG_15, scopes=("api", "api", "x"), subjects=("a@b.example",))
    from_json = OrgInput.from_json({"org_id": ORG_15, "scopes": ["api", "api", "x"], "subjects": ["a@b.example"]})
    assert from_python == from_json
    assert from_json.org_id == ORG_18  # the canonical 18 characters
    assert from_json.scopes == ("api", "x")  # a tuple, duplicates dropped, order kept
    assert from_json.algorithms == ("RS256",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "org_id is required"),
        ({"org_id": ORG_15, "colour": "blue"}, "unknown field(s): colour"),
        ({"org_id": ORG_15, "name": None}, "name must not be null"),
        ({"org_id": ORG_15, "enabled": 1}, "enabled must be true or false, not int"),
        ({"org_id": ORG_15, "scopes": "api"}, "scopes must be a list, not str"),
        ({"org_id": ORG_15, "issuers": [""]}, "issuers item 0 must not be empty"),
        ({"org_id": ORG_15, "token_lifetime": True}, "token_lifetime must be a whole number, not bool"),
        ({"org_id": ORG_15, "token_lifetime": 2**63}, "token_lifetime must be from 1 to 86400"),
        ({"org_id": ORG_15, "algorithms": ["HS256"]}, "algorithms item 0 must be one of"),
    ],
)
def test_json_refusals_name_the_field(data: object, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        OrgInput.from_json(data)
    assert message in raised.value.reason


def test_an_org_id_says_what_is_wrong_with_it() -> None:
    with pytest.raises(InvalidSalesforceId, match="checksum"):
        OrgInput(org_id="00D5g000004ABCDAAA")


def test_null_is_a_value_only_where_it_means_something() -> None:
    changes = OrgChanges.from_json({"subjects": None, "token_lifetime": None})
    assert changes.given() == {"subjects": None, "token_lifetime": None}  # any subject; the service default
    assert changes.name is UNSET
    with pytest.raises(InvalidInput, match="nothing to change"):
        OrgChanges.from_json({})


def test_secrets_are_checked_and_never_shown() -> None:
    with pytest.raises(WeakSecret):
        AppInput(consumer_key="ck", secret="short")
    app = AppInput(consumer_key="ck", secret=SECRET)
    assert SECRET not in repr(app)
    assert "<secret>" in repr(app)
    assert SECRET not in repr(SecretInput(secret=SECRET))


def test_the_json_schema_says_what_from_json_accepts() -> None:
    """Generated documents for each model validate what the model accepts and refuse what it refuses."""
    cases: list[tuple[type[InputModel], object, bool]] = [
        (OrgInput, {"org_id": ORG_15, "scopes": ["api"], "subjects": None, "token_lifetime": 60}, True),
        (OrgInput, {"org_id": ORG_15, "extra": 1}, False),
        (OrgInput, {"org_id": ORG_15, "token_lifetime": 0}, False),
        (OrgInput, {"org_id": "x"}, False),
        (OrgChanges, {"algorithms": ["RS512", "ES256"]}, True),
        (OrgChanges, {"algorithms": []}, False),
        (AppInput, {"consumer_key": "3MVG9.key", "secret": SECRET}, True),
        (AppInput, {"consumer_key": "has space", "secret": SECRET}, False),
        (CertificateInput, {"certificate": "-----BEGIN CERTIFICATE-----", "shared": True}, True),
        (SecretInput, {"secret": SECRET, "keep_previous": 101}, False),
    ]
    for model, data, accepted in cases:
        schema = model.json_schema()
        Draft202012Validator.check_schema(schema)
        assert Draft202012Validator(schema).is_valid(data) == accepted, (model.__name__, data)
        if accepted:
            model.from_json(data)
        else:
            with pytest.raises((InvalidInput, InvalidSalesforceId)):
                model.from_json(data)


def test_schemas_are_fresh_objects() -> None:
    first, second = OrgInput.json_schema(), OrgInput.json_schema()
    assert first == second
    first["properties"]["scopes"]["items"]["maxLength"] = 1
    assert OrgInput.json_schema() == second
