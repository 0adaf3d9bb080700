"""The typed CanvasRequest model: realistic envelopes, tolerated variations, types, read-only views."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcegate.core import canvas_request
from forcegate.core._json import MAX_DEPTH
from forcegate.core.canvas import CanvasVerifier
from forcegate.core.canvas_request import (
    CanvasApplication,
    CanvasClient,
    CanvasEnvironment,
    CanvasOrganization,
    CanvasRequest,
    CanvasUser,
    FrozenJSONArray,
    FrozenJSONObject,
)
from forcegate.devtools.canvas_signer import build_envelope, sign_envelope, sign_payload
from forcegate.errors import MalformedSignedRequest

DATA = Path(__file__).parent / "data"
SECRET = "consumer-secret-for-model-tests"
VERIFIER = CanvasVerifier([SECRET])
PAGELAYOUT_TOKEN = "00D5g000004XyZa!AQ0AQFixtureSessionTokenPageLayoutNotARealOne"
AURA_TOKEN = "00D8W000002cRtY!ARcAQFixtureSessionTokenAuraNotARealOne"
AURA_REFRESH = "5Aep861FixtureRefreshTokenNotARealOne"


def fixture_request(name: str) -> CanvasRequest:
    # Signed over the file's bytes as they are (indentation, key order and all).
    return VERIFIER.verify(sign_payload((DATA / name).read_bytes(), SECRET))


def verify(envelope: dict[str, Any]) -> CanvasRequest:
    return VERIFIER.verify(sign_envelope(envelope, SECRET))


def base() -> dict[str, Any]:
    return build_envelope(org_id="00Dx00000001hxy", user_id="005x0000001SyyE", oauth_token="tok", now=1.7e9)


# --- the realistic envelopes -----------------------------------------------------------------------


def test_page_layout_envelope() -> None:
    request = fixture_request("canvas_pagelayout.json")
    assert request.issued_at is None
    assert request.user_id == "0055g00000AbCdEAAV"  # top-level userId was 15 characters
    assert request.organization_id == "00D5g000004XyZaEAK"
    assert request.client == CanvasClient(
        instance_id="_:Order_Console.canvasapp:j_id0:j_id1:canvasapp",
        instance_url="https://acme.my.salesforce.com",
        oauth_token=PAGELAYOUT_TOKEN,
        refresh_token=None,
        target_origin="https://acme.my.salesforce.com",
    )
    user = request.user
    assert (user.user_id, user.user_name, user.full_name) == (
        "0055g00000AbCdEAAV",
        "dana.ortiz@acme.example.com",
        "Dana Ortiz",
    )
    assert (user.currency_iso_code, user.locale, user.time_zone, user.role_id) == (
        "EUR",
        "en_IE",
        "Europe/Dublin",
        None,
    )
    assert user.accessibility_mode_enabled is False
    assert request.organization == CanvasOrganization(
        organization_id="00D5g000004XyZaEAK",
        name="Acme Ireland",
        multicurrency_enabled=True,
        namespace_prefix=None,
        currency_iso_code="EUR",
    )
    assert request.application.developer_name == "Order_Console"
    assert request.application.options == ()
    environment = request.environment
    assert environment.display_location == "PageLayout"
    assert environment.sublocation == "S1MobileCardFullview"  # spelled subLocation in this envelope
    assert environment.ui_theme == "Theme4t"
    assert environment.parameters == {}
    assert environment.record is not None
    assert environment.record["attributes"]["type"] == "Account"
    assert environment.record["AnnualRevenue"] == 1250000.5
    assert environment.dimensions["maxHeight"] == "2000px"
    assert environment.version == {"api": "62.0", "season": "WINTER"}
    assert request.links["userUrl"] == "/0055g00000AbCdE"
    assert len(request.links) == 14


def test_aura_envelope() -> None:
    request = fixture_request("canvas_aura.json")
    assert request.issued_at == 1731000000
    assert request.user_id == "0058W00000Lm9QrQAJ"  # context.user.userId was 15 characters here
    assert request.organization_id == "00D8W000002cRtYUAU"
    assert request.client.refresh_token == AURA_REFRESH
    # The spellings are the other way round from the Guide's example; both are read.
    assert request.user.currency_iso_code == "USD"
    assert request.organization.currency_iso_code == "USD"
    assert request.organization.namespace_prefix == "acme"
    assert request.environment.display_location == "Aura"
    assert request.environment.sublocation == "S1RecordHomePreview"
    assert request.environment.record is None
    assert request.application.options == ("HideShare",)
    assert "recentItemsUrl" not in request.links  # null links are dropped
    parameters = request.parameters
    assert parameters["orderId"] == "a015g00000ZxYwVAAV"
    assert parameters["lines"][1] == {"sku": "GX-200", "qty": 1, "price": 249.0}
    assert parameters["flags"]["beta"] is True
    assert parameters["note"] == "Überprüfung nötig — 注文"
    # Unknown keys are kept in raw.
    assert request.raw["futureField"]["anything"] == [1, 2, 3]
    assert request.raw["context"]["organization"]["edition"] == "Enterprise Edition"


@pytest.mark.parametrize("name", ["canvas_pagelayout.json", "canvas_aura.json"])
def test_raw_is_the_whole_envelope(name: str) -> None:
    request = fixture_request(name)
    assert request.raw == json.loads((DATA / name).read_text())
    assert isinstance(request.raw, FrozenJSONObject)
    assert request.raw.to_dict() == json.loads((DATA / name).read_text())


# --- tokens never shown ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secrets"),
    [("canvas_pagelayout.json", [PAGELAYOUT_TOKEN]), ("canvas_aura.json", [AURA_TOKEN, AURA_REFRESH])],
)
def test_no_token_in_any_repr(name: str, secrets: list[str]) -> None:
    request = fixture_request(name)
    shown = " ".join(
        [
            repr(request),
            str(request),
            repr(request.client),
            str(request.client),
            repr(request.raw),
            repr(request.raw["client"]),
            repr(request.user),
            repr(request.environment),
        ]
    )
    for secret in secrets:
        assert secret not in shown
    assert "<redacted>" in repr(request.raw)
    assert request.client.oauth_token in secrets


# --- tolerated variations --------------------------------------------------------------------------


def test_missing_and_null_sections_are_tolerated() -> None:
    minimal = {
        "algorithm": "HMACSHA256",
        "userId": "005x0000001SyyE",
        "client": None,
        "context": {"organization": {"organizationId": "00Dx00000001hxy"}, "environment": None, "links": None},
    }
    request = verify(minimal)
    assert request.user == CanvasUser(user_id="005x0000001SyyEAAS")
    assert request.client == CanvasClient()
    assert request.application == CanvasApplication()
    assert request.environment == CanvasEnvironment()
    assert request.parameters == {}
    assert dict(request.links) == {}
    assert request.issued_at is None


def test_user_id_only_in_context() -> None:
    data = base()
    del data["userId"]
    assert verify(data).user_id == "005x0000001SyyEAAS"


@pytest.mark.parametrize("top", ["005x0000001SyyE", "005x0000001SyyEAAS", "005X0000001SYYEAAS", "005x0000001syyeaas"])
def test_user_id_forms_that_agree(top: str) -> None:
    assert verify({**base(), "userId": top}).user_id == "005x0000001SyyEAAS"


def test_user_ids_that_disagree() -> None:
    with pytest.raises(MalformedSignedRequest, match="name different users"):
        verify({**base(), "userId": "005x0000001SyyF"})
    with pytest.raises(MalformedSignedRequest, match="userId is not a valid id"):
        verify({**base(), "userId": "005x0000001Syy"})


def test_no_user_id_at_all() -> None:
    data = base()
    del data["userId"]
    del data["context"]["user"]["userId"]
    with pytest.raises(MalformedSignedRequest, match=r"neither userId nor context\.user\.userId"):
        verify(data)


@pytest.mark.parametrize(
    ("organization", "reason"),
    [
        ({}, "organizationId is missing"),
        ({"organizationId": "005x0000001SyyE"}, "key prefix '00D'"),
        ({"organizationId": "00Dx00000001hx"}, "15 or 18 characters"),
    ],
)
def test_organization_id_is_required_and_checked(organization: dict[str, Any], reason: str) -> None:
    data = base()
    data["context"]["organization"] = organization
    with pytest.raises(MalformedSignedRequest, match=reason):
        verify(data)


def test_user_id_must_be_a_user() -> None:
    data = base()
    data["context"]["user"]["userId"] = "00Dx00000001hxyEAA"
    data["userId"] = None
    with pytest.raises(
        MalformedSignedRequest, match=r"context\.user\.userId is not a valid id: expected an id with key"
    ):
        verify(data)


# --- wrong types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("context",), [], "context is an array, expected an object"),
        (("client",), "x", "client is a string, expected an object"),
        (("issuedAt",), "2024-01-01", "issuedAt is a string, expected an integer"),
        (("issuedAt",), 1.5, "issuedAt is a number, expected an integer"),
        (("issuedAt",), True, "issuedAt is a boolean, expected an integer"),
        (("context", "user", "email"), 5, "context.user.email is an integer, expected a string"),
        (("context", "user", "isDefaultNetwork"), "yes", "context.user.isDefaultNetwork is a string"),
        (("context", "organization", "multicurrencyEnabled"), 1, "expected a boolean"),
        (("context", "environment", "parameters"), [1], "context.environment.parameters is an array"),
        (("context", "environment", "parameters"), "a=b", "context.environment.parameters is a string"),
        (("context", "environment", "record"), 7, "context.environment.record is an integer"),
        (("context", "environment", "subLocation"), {}, "context.environment.subLocation is an object"),
        (("context", "application", "options"), "HideShare", "options is a string, expected an array"),
        (("context", "application", "options"), ["ok", 2], "options is not an array of strings"),
        (("context", "links", "restUrl"), ["/x"], "context.links.restUrl is an array, expected a string"),
        (("client", "oauthToken"), {"t": 1}, "client.oauthToken is an object, expected a string"),
    ],
)
def test_wrong_types_are_malformed_with_the_path(path: tuple[str, ...], value: Any, reason: str) -> None:
    data = base()
    section = data
    for step in path[:-1]:
        section = section[step]
    section[path[-1]] = value
    with pytest.raises(MalformedSignedRequest, match=re.escape(reason)):
        verify(data)


def test_unknown_keys_of_any_type_pass() -> None:
    data = base()
    data["context"]["user"]["somethingNew"] = {"nested": [1]}
    data["context"]["environment"]["parameters"] = {"email": 5}  # custom parameters are free-form
    data["newTopLevel"] = 3
    assert verify(data).parameters == {"email": 5}


# --- read-only views -------------------------------------------------------------------------------


def test_views_are_read_only_all_the_way_down() -> None:
    request = fixture_request("canvas_aura.json")
    parameters = request.parameters
    with pytest.raises(TypeError):
        parameters["mode"] = "view"  # type: ignore[index]  # mutation is what is being refused
    assert isinstance(parameters["lines"], FrozenJSONArray)
    lines: Any = parameters["lines"]
    with pytest.raises(TypeError):
        lines[0] = {}
    assert not hasattr(lines, "append")
    with pytest.raises(TypeError):
        lines[0]["qty"] = 99
    with pytest.raises(TypeError):
        request.links["restUrl"] = "/evil"  # type: ignore[index]  # mutation is what is being refused
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.user_id = "005000000000001AAA"  # type: ignore[misc]  # frozen is what is being tested
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.user.email = "x"  # type: ignore[misc]  # frozen is what is being tested
    assert request.parameters["lines"][0]["qty"] == 3


def test_frozen_views_behave_like_json() -> None:
    data = {"a": [1, {"b": None}, [True]], "c": "d"}
    view = FrozenJSONObject(data)
    assert view == data
    assert view == FrozenJSONObject(copy.deepcopy(data))
    assert view != {"a": [], "c": "d"}
    assert view["a"] == [1, {"b": None}, [True]]
    assert view["a"] == (1, {"b": None}, (True,))
    assert view["a"] != [1]
    assert view["a"][1:] == [{"b": None}, [True]]
    assert list(view) == ["a", "c"]
    assert "c" in view
    assert len(view) == 2
    copied = view.to_dict()
    copied["a"].append(2)
    assert data["a"] == [1, {"b": None}, [True]]  # to_dict() is a deep copy
    assert view["a"].to_list() == [1, {"b": None}, [True]]
    assert json.loads(json.dumps(view.to_dict())) == data
    with pytest.raises(TypeError):
        hash(view)
    with pytest.raises(TypeError):
        hash(view["a"])


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=15,
    )
)
def test_frozen_view_equals_its_source(value: Any) -> None:
    wrapped = FrozenJSONObject({"v": value})
    assert wrapped == {"v": value}
    assert wrapped.to_dict() == {"v": value}


def _depth(value: Any) -> int:
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return 1 + max(map(_depth, children), default=0) if isinstance(value, dict | list) else 0


def _deepest_envelope(levels: int) -> dict[str, Any]:
    """An envelope nested ``levels`` deep, by an array in ``parameters`` (envelope, context, environment
    and parameters are the first four levels)."""
    deep: list[Any] = [1]
    for _ in range(levels - 5):
        deep = [deep]
    envelope = base()
    envelope["context"]["environment"]["parameters"] = {"deep": deep}
    assert _depth(envelope) == levels
    return envelope


def test_views_of_the_deepest_envelope_accepted_cannot_fail() -> None:
    # An array nested about 240 deep made FrozenJSONArray == list raise RecursionError (several
    # Python frames per level; fuzz/crashes/canvas/parameters-array-250-deep-eq), and to_list()
    # copied recursively: the module promises that reading a verified envelope cannot fail.
    request = verify(_deepest_envelope(MAX_DEPTH))
    deep = request.parameters["deep"]
    copied = deep.to_list()
    assert copied == deep
    assert deep == copied
    assert deep == FrozenJSONArray(copied)
    assert request.raw.to_dict() == request.raw
    assert request.parameters == request.environment.parameters
    assert "<redacted>" in repr(request.raw)
    innermost = copied
    while isinstance(innermost[0], list):
        innermost = innermost[0]
    innermost.append(2)  # a deep copy all the way down: the view is untouched
    assert deep != copied


def test_an_envelope_nested_deeper_than_the_decoder_reads_is_malformed() -> None:
    # orjson.dumps's TypeError escaped the verifier here (fuzz/crashes/canvas/envelope-nested-255-deep).
    with pytest.raises(MalformedSignedRequest) as refused:
        verify(_deepest_envelope(MAX_DEPTH + 1))
    assert refused.value.reason == f"payload is not acceptable JSON: JSON is nested more than {MAX_DEPTH} levels deep"


def test_an_array_equals_a_list_with_the_same_content_and_a_tuple_of_equal_items() -> None:
    view = FrozenJSONArray([1, [2, [3]], {"a": [4]}])
    assert view == [1, [2, [3]], {"a": [4]}]
    assert view == (1, (2, (3,)), {"a": [4]})
    assert view == [1, FrozenJSONArray([2, [3]]), FrozenJSONObject({"a": [4]})]
    assert view != [1, [2, [3]], {"a": [5]}]
    assert view != (1, (2, (4,)), {"a": [4]})
    assert view != [1, (2, (3,)), {"a": [4]}]  # inside a list, list equality: a tuple is not an array


def test_views_are_built_once_and_compare_by_content() -> None:
    request = fixture_request("canvas_aura.json")
    assert request.user is request.user
    assert request.environment is request.environment
    again = fixture_request("canvas_aura.json")
    assert again == request
    assert hash(again) == hash(request)
    assert again != fixture_request("canvas_pagelayout.json")


def test_requests_copy_and_pickle() -> None:
    request = fixture_request("canvas_aura.json")
    assert copy.deepcopy(request) == request
    restored = pickle.loads(pickle.dumps(request))  # noqa: S301  # our own data, round-tripped
    assert restored == request
    assert restored.user == request.user


# --- the key tables the parser fills the dataclasses from ------------------------------------------


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


@pytest.mark.parametrize(
    ("cls", "keys", "before", "after"),
    [
        (CanvasClient, canvas_request._CLIENT_KEYS, 0, 0),
        (CanvasUser, canvas_request._USER_KEYS, 1, 1),
        (CanvasOrganization, canvas_request._ORGANIZATION_KEYS, 1, 1),
        (CanvasApplication, canvas_request._APPLICATION_KEYS, 0, 1),
        (CanvasEnvironment, canvas_request._ENVIRONMENT_KEYS, 0, 5),
    ],
)
def test_key_tables_line_up_with_the_fields(cls: type, keys: tuple[str, ...], before: int, after: int) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    assert [_snake(key) for key in keys] == names[before : len(names) - after]
