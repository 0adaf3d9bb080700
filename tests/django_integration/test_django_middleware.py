"""forcegate.integrations.django: the middleware and the decorators, with Django's test client, against a
live forcegate service (its tokens, its JWKS, its registry)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from django.test import AsyncClient, Client, override_settings

from django_live import Service
from django_support import MIDDLEWARE_WITHOUT_FORCEGATE
from forcegate.integrations.django import get_verifier
from forcegate.resource import JWKSVerifier, RegistryVerifier
from server.live import ORG_ID, USER_ID

CHALLENGE = 'Bearer realm="forcegate"'


def test_no_credential_is_none_on_open_views_and_401_on_guarded_ones(jwks: JWKSVerifier) -> None:
    client = Client()
    assert client.get("/public").json() == {"identity": None}
    refused = client.get("/whoami")
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_token"}
    assert refused["WWW-Authenticate"] == CHALLENGE
    assert refused["Cache-Control"] == "no-store"
    assert refused["Content-Type"] == "application/json"


def test_an_access_token_puts_the_identity_on_the_request(service: Service, jwks: JWKSVerifier) -> None:
    client = Client(headers={"authorization": service.bearer()})
    for path in ("/public", "/whoami", "/orders"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.content)
        identity = response.json()["identity"]
        assert (identity["source"], identity["org_id"], identity["user_id"]) == ("jwt-bearer", ORG_ID, USER_ID)
        assert identity["scopes"] == ["api", "orders:read"]


def test_a_missing_scope_is_403_with_the_insufficient_scope_challenge(service: Service, jwks: JWKSVerifier) -> None:
    refused = Client(headers={"authorization": service.bearer(scope="api")}).get("/orders")
    assert refused.status_code == 403
    assert refused.json() == {"error": "insufficient_scope"}
    assert refused["WWW-Authenticate"] == f'{CHALLENGE}, error="insufficient_scope"'


def test_a_refused_credential_is_answered_even_on_an_open_view(jwks: JWKSVerifier) -> None:
    refused = Client(headers={"authorization": "Bearer not.a.token"}).get("/public")
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_token"}
    assert refused["WWW-Authenticate"] == f'{CHALLENGE}, error="invalid_token"'
    malformed = Client(headers={"authorization": "Bearer a b"}).get("/public")
    assert malformed.status_code == 400
    assert malformed.json() == {
        "error": "invalid_request",
        "error_description": "the bearer token has characters RFC 6750 §2.1 does not allow",
        "code": "malformed_credentials",
    }


def test_without_the_middleware_the_decorator_verifies_with_its_scopes(service: Service, jwks: JWKSVerifier) -> None:
    with override_settings(MIDDLEWARE=MIDDLEWARE_WITHOUT_FORCEGATE):
        assert Client().get("/public").json() == {"identity": None}  # nothing verified, nothing refused
        assert Client(headers={"authorization": "Bearer not.a.token"}).get("/public").status_code == 200
        refused = Client(headers={"authorization": service.bearer(scope="api")}).get("/orders")
        assert refused.status_code == 403
        assert refused["WWW-Authenticate"] == f'{CHALLENGE}, error="insufficient_scope"'
        assert Client(headers={"authorization": service.bearer()}).get("/orders").status_code == 200
        assert Client().get("/whoami")["WWW-Authenticate"] == CHALLENGE


def test_a_direct_apex_jwt_is_verified_once_per_request(service: Service, registry: RegistryVerifier) -> None:
    """Middleware and decorator share one verification: a single-use Apex JWT passes once, then is refused."""
    client = Client(headers={"authorization": service.apex_jwt()})
    first = client.get("/whoami")
    assert first.status_code == 200, first.content
    assert first.json()["identity"]["source"] == "jwt"
    again = client.get("/whoami")
    assert again.status_code == 401
    assert again["WWW-Authenticate"] == f'{CHALLENGE}, error="invalid_token"'


def test_async_views_through_the_asgi_handler(service: Service, jwks: JWKSVerifier) -> None:
    """AsyncClient runs the ASGI handler: the middleware and the decorator await ``averify``."""
    good, narrow = service.bearer(), service.bearer(scope="api")

    async def calls() -> tuple[int, int, int, str]:
        client = AsyncClient()
        ok = await client.get("/async/orders", headers={"authorization": good})
        refused = await client.get("/async/orders", headers={"authorization": narrow})
        none = await client.get("/async/orders")
        return ok.status_code, refused.status_code, none.status_code, none["WWW-Authenticate"]

    assert asyncio.run(calls()) == (200, 403, 401, CHALLENGE)
    with override_settings(MIDDLEWARE=MIDDLEWARE_WITHOUT_FORCEGATE):  # the async decorator verifies itself
        assert asyncio.run(calls()) == (200, 403, 401, CHALLENGE)


def test_development_mode_tells_the_caller_why(service: Service) -> None:
    with override_settings(FORCEGATE={"JWKS": {"issuer": service.server.url, "development": True}}):
        refused = Client(headers={"authorization": service.bearer(scope="api")}).get("/orders")
    assert refused.json() == {
        "error": "insufficient_scope",
        "error_description": "missing scope(s): orders:read",
        "code": "insufficient_scope",
    }


def test_a_registry_that_is_not_there_is_a_server_error(tmp_path: Path, service: Service) -> None:
    with override_settings(FORCEGATE={"REGISTRY": {"data_dir": str(tmp_path), "public_url": service.server.url}}):
        refused = Client(headers={"authorization": service.bearer()}).get("/whoami")
    assert refused.status_code == 500
    assert refused.json() == {"error": "server_error"}
    assert not refused.has_header("WWW-Authenticate")


def test_the_registry_settings_of_the_dict(service: Service) -> None:
    settings = {
        "data_dir": str(service.server.settings.data_dir),
        "public_url": service.server.url,
        "extra_audiences": ["https://app.example.com"],
    }
    with override_settings(FORCEGATE={"REGISTRY": settings}):
        assert Client(headers={"authorization": service.bearer()}).get("/orders").status_code == 200
        verifier = get_verifier()
        assert isinstance(verifier, RegistryVerifier)
        assert verifier.settings.extra_audiences == ("https://app.example.com",)
        assert verifier.settings.data_dir == service.server.settings.data_dir
