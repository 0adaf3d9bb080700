"""forcegate.integrations.drf: the authentication class, the scope permissions and the exception handler,
in DRF views served by Django's test client, against a live forcegate service."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIRequestFactory

from django_live import Service
from django_support import MIDDLEWARE_WITHOUT_FORCEGATE
from forcegate.core.identity import Identity
from forcegate.integrations.drf import ForcegateScopes, ForcegateUser, HasForcegateScopes
from forcegate.resource import JWKSVerifier, RegistryVerifier
from server.live import ORG_ID, USER_ID

CHALLENGE = 'Bearer realm="forcegate"'


@pytest.fixture(params=["with the middleware", "without it"])
def middleware(request: pytest.FixtureRequest) -> object:
    """The Django middleware leaves DRF views to DRF: the same answers with or without it."""
    if request.param == "with the middleware":
        yield None
        return
    with override_settings(MIDDLEWARE=MIDDLEWARE_WITHOUT_FORCEGATE):
        yield None


@pytest.mark.usefixtures("middleware")
def test_an_access_token_is_request_auth_and_a_forcegate_user(service: Service, jwks: JWKSVerifier) -> None:
    response = Client(headers={"authorization": service.bearer()}).get("/drf/whoami")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user"] == "ada@example.com"
    assert body["pk"] == f"{ORG_ID}:{USER_ID}"
    assert (body["identity"]["source"], body["identity"]["org_id"]) == ("jwt-bearer", ORG_ID)


@pytest.mark.usefixtures("middleware")
def test_no_credential_is_401_with_the_bearer_challenge(jwks: JWKSVerifier) -> None:
    refused = Client().get("/drf/whoami")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Authentication credentials were not provided.", "error": "invalid_token"}
    assert refused["WWW-Authenticate"] == CHALLENGE
    assert refused["Cache-Control"] == "no-store"  # forcegate's exception handler


@pytest.mark.usefixtures("middleware")
def test_a_refused_token_is_401_invalid_token_the_drf_way(jwks: JWKSVerifier) -> None:
    refused = Client(headers={"authorization": "Bearer not.a.token"}).get("/drf/whoami")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Incorrect authentication credentials.", "error": "invalid_token"}
    assert refused["WWW-Authenticate"] == f'{CHALLENGE}, error="invalid_token"'
    malformed = Client(headers={"authorization": "Bearer a b"}).get("/drf/whoami")
    assert malformed.status_code == 400
    assert malformed.json() == {
        "detail": "The Authorization header is malformed.",
        "error": "invalid_request",
        "error_description": "the bearer token has characters RFC 6750 §2.1 does not allow",
        "code": "malformed_credentials",
    }
    assert malformed["WWW-Authenticate"] == f'{CHALLENGE}, error="invalid_request"'


@pytest.mark.usefixtures("middleware")
def test_a_missing_scope_is_403_insufficient_scope_with_its_challenge(service: Service, jwks: JWKSVerifier) -> None:
    refused = Client(headers={"authorization": service.bearer(scope="api")}).get("/drf/orders")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "The credential does not grant the scope this endpoint needs.",
        "error": "insufficient_scope",
    }
    assert refused["WWW-Authenticate"] == f'{CHALLENGE}, error="insufficient_scope"'
    assert refused["Cache-Control"] == "no-store"
    assert Client(headers={"authorization": service.bearer()}).get("/drf/orders").status_code == 200


@pytest.mark.usefixtures("middleware")
def test_a_direct_apex_jwt_is_verified_once(service: Service, registry: RegistryVerifier) -> None:
    client = Client(headers={"authorization": service.apex_jwt()})
    first = client.post("/drf/orders")  # authentication, then the scope permission: one verification
    assert first.status_code == 201, first.content
    assert first.json() == {"created": True, "org_id": ORG_ID}
    second = client.get("/drf/whoami")
    assert second.status_code == 401  # spent by the first request
    assert second["WWW-Authenticate"] == f'{CHALLENGE}, error="invalid_token"'


def test_development_mode_adds_forcegate_code(service: Service) -> None:
    with override_settings(FORCEGATE={"JWKS": {"issuer": service.server.url, "development": True}}):
        refused = Client(headers={"authorization": service.bearer(scope="api")}).get("/drf/orders")
    assert refused.json() == {
        "detail": "The credential does not grant the scope this endpoint needs.",
        "error": "insufficient_scope",
        "error_description": "missing scope(s): orders:read",
        "code": "insufficient_scope",
    }


def test_a_server_fault_is_a_drf_error_with_forcegate_body(tmp_path: object, service: Service) -> None:
    with override_settings(FORCEGATE={"REGISTRY": {"data_dir": str(tmp_path), "public_url": service.server.url}}):
        refused = Client(headers={"authorization": service.bearer()}).get("/drf/whoami")
    assert refused.status_code == 500
    assert refused.json() == {"detail": "A server error occurred.", "error": "server_error"}


def test_the_scope_permission_classes() -> None:
    both = ForcegateScopes("orders:read", "orders:write")
    assert issubclass(both, HasForcegateScopes)
    assert both.required_scopes == ("orders:read", "orders:write")
    with pytest.raises(TypeError):
        ForcegateScopes("")
    identity = Identity(source="jwt-bearer", org_id=ORG_ID, scopes=frozenset({"orders:read"}))

    class View:
        forcegate_scopes = ("orders:read",)

    request = APIRequestFactory().get("/")
    request.auth = identity  # a plain Django request stands in for DRF's
    assert HasForcegateScopes().has_permission(request, View())
    user = ForcegateUser(identity)
    assert user.is_authenticated
    assert not user.is_anonymous
    assert not user.has_perm("auth.anything")
    assert (str(user), user.pk) == (ORG_ID, f"{ORG_ID}:")
