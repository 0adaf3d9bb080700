"""forcegate.integrations.flask with Flask's test client and a stand-in verifier: the configuration, the
decorator and ``g.forcegate``, the every-request mode, how refusals are answered, the Canvas blueprint's
checks. The whole path against a live service (tokens, Canvas sessions) is tests/examples/test_flask_app.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g

from blocked_imports import run_python
from forcegate.core.identity import Identity
from forcegate.errors import ConfigurationError, InsufficientScope, InvalidAccessToken, NoCredentials
from forcegate.integrations.flask import Forcegate
from forcegate.resource import SESSION_COOKIE, JWKSVerifier, Refusal, RegistryVerifier
from forcegate.resource._refusal import refusal
from forcegate.resource._verifier import DEFAULT_ENDPOINT
from forcegate.settings import Settings

ORG_ID = "00D5g000004ABCDEA4"
IDENTITY = Identity(source="jwt-bearer", org_id=ORG_ID, user_id="0055g00000AbCdEAAV", scopes=frozenset({"api"}))


class StandIn:
    """A :class:`~forcegate.resource.Verifier`: ``Bearer good`` and a session cookie ``s1`` are IDENTITY."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str | None, tuple[str, ...], str | None, str]] = []
        self.closed = False

    def verify(
        self,
        authorization: str | None,
        *,
        session: str | None = None,
        scopes: Collection[str] = (),
        client: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> Identity:
        self.calls.append((authorization, session, tuple(scopes), client, endpoint))
        if authorization is None and session is None:
            raise refusal(NoCredentials("no credential"), development=False)
        if authorization not in (None, "Bearer good") or session not in (None, "s1"):
            raise refusal(InvalidAccessToken("not one of ours"), development=False)
        if not IDENTITY.has_scopes(scopes):
            raise refusal(InsufficientScope("missing scope(s)"), development=False)
        return IDENTITY

    async def averify(
        self,
        authorization: str | None,
        *,
        session: str | None = None,
        scopes: Collection[str] = (),
        client: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> Identity:
        await asyncio.sleep(0)
        return self.verify(authorization, session=session, scopes=scopes, client=client, endpoint=endpoint)

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.close()


STAND_IN = StandIn()  # for the dotted path of VERIFIER


def make_stand_in() -> StandIn:
    return StandIn()


@pytest.fixture
def verifier() -> StandIn:
    return StandIn()


def make_app(verifier: StandIn, *, every_request: bool = False) -> tuple[Flask, Forcegate]:
    app = Flask(__name__)
    forcegate = Forcegate(app, verifier=verifier, every_request=every_request)

    @app.get("/orders")
    @forcegate.required(scopes=["api"])
    def orders() -> dict[str, Any]:
        return {"org": g.forcegate.org_id}

    @app.get("/admin")
    @forcegate.required(scopes="admin")  # one scope, as a string
    def admin() -> str:
        return "never"

    @app.get("/any")
    @forcegate.required
    def any_identity() -> dict[str, Any]:
        return {"org": g.forcegate.org_id}

    @app.post("/orders")
    @forcegate.required
    def place_order() -> dict[str, Any]:
        return {"placed_for": g.forcegate.org_id}

    @app.get("/page")
    @forcegate.required(page=True)
    def page() -> str:
        return "signed in"

    @app.get("/async")
    @forcegate.required(scopes=["api"])
    async def asynchronous() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"org": g.forcegate.org_id}

    @app.get("/public")
    def public() -> dict[str, Any]:
        identity = g.get("forcegate", "unset")
        return {"identity": identity if identity in (None, "unset") else identity.org_id}

    return app, forcegate


# --- the decorator -----------------------------------------------------------------------------------------


def test_required_puts_the_identity_on_g_and_passes_the_request_along(verifier: StandIn) -> None:
    app, _ = make_app(verifier)
    client = app.test_client()
    response = client.get("/orders", headers={"authorization": "Bearer good"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 200
    assert response.json == {"org": ORG_ID}
    assert verifier.calls == [("Bearer good", None, ("api",), "10.1.2.3", "/orders")]

    client.set_cookie(SESSION_COOKIE, "s1")
    assert client.get("/any").json == {"org": ORG_ID}
    assert verifier.calls[-1][:3] == (None, "s1", ())


def test_another_sites_post_does_not_carry_the_session(verifier: StandIn) -> None:
    # The cookie is SameSite=None (Salesforce's iframe): the extension drops it from a cross-origin
    # POST, as SameSite would, so another site's page cannot act with the user's session.
    client = make_app(verifier)[0].test_client()
    client.set_cookie(SESSION_COOKIE, "s1")
    assert client.post("/orders", headers={"origin": "http://localhost"}).status_code == 200
    refused = client.post("/orders", headers={"origin": "https://evil.example"})
    assert refused.status_code == 401
    assert verifier.calls[-1][:2] == (None, None)
    assert client.post("/orders", headers={"sec-fetch-site": "cross-site"}).status_code == 401
    # A bearer credential is not a cookie: it counts from anywhere.
    bearer = {"origin": "https://evil.example", "authorization": "Bearer good"}
    assert client.post("/orders", headers=bearer).status_code == 200


def test_a_refusal_is_forcegates_json_with_its_status_and_challenge(verifier: StandIn) -> None:
    client = make_app(verifier)[0].test_client()
    none = client.get("/orders")
    assert none.status_code == 401
    assert none.content_type == "application/json"
    assert none.json == {"error": "invalid_token"}
    assert none.headers["WWW-Authenticate"] == 'Bearer realm="forcegate"'
    assert none.headers["Cache-Control"] == "no-store"

    bad = client.get("/orders", headers={"authorization": "Bearer bad"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == 'Bearer realm="forcegate", error="invalid_token"'

    scope = client.get("/admin", headers={"authorization": "Bearer good"})
    assert scope.status_code == 403
    assert scope.json == {"error": "insufficient_scope"}
    assert scope.headers["WWW-Authenticate"] == 'Bearer realm="forcegate", error="insufficient_scope"'
    assert verifier.calls[-1][2] == ("admin",)


def test_page_views_answer_a_refusal_with_a_page_of_the_same_status(verifier: StandIn) -> None:
    client = make_app(verifier)[0].test_client()
    refused = client.get("/page")
    assert refused.status_code == 401
    assert refused.content_type == "text/html; charset=utf-8"
    assert "Not signed in" in refused.text
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="forcegate"'  # a 401 still says how to sign in
    assert refused.headers["Cache-Control"] == "no-store"
    assert client.get("/page", headers={"authorization": "Bearer good"}).text == "signed in"


def test_async_views(verifier: StandIn) -> None:
    pytest.importorskip("asgiref")  # Flask's async views need it (flask[async])
    client = make_app(verifier)[0].test_client()
    assert client.get("/async", headers={"authorization": "Bearer good"}).json == {"org": ORG_ID}
    assert client.get("/async").status_code == 401


def test_the_app_may_answer_refusals_its_own_way(verifier: StandIn) -> None:
    app, _ = make_app(verifier)

    @app.errorhandler(Refusal)
    def mine(refused: Refusal) -> tuple[dict[str, Any], int]:
        return {"problem": refused.code}, refused.status

    assert app.test_client().get("/orders").json == {"problem": "no_credentials"}


# --- every request ----------------------------------------------------------------------------------------


def test_every_request_mode_sets_g_forcegate_or_none(verifier: StandIn) -> None:
    client = make_app(verifier, every_request=True)[0].test_client()
    assert client.get("/public").json == {"identity": None}
    assert verifier.calls == []  # no credential: nothing to verify
    assert client.get("/public", headers={"authorization": "Bearer good"}).json == {"identity": ORG_ID}
    assert client.get("/public", headers={"authorization": "Bearer bad"}).json == {"identity": None}
    assert [call[0] for call in verifier.calls] == ["Bearer good", "Bearer bad"]


def test_every_request_mode_verifies_a_required_view_once_with_its_scopes(verifier: StandIn) -> None:
    """A direct Apex JWT is single use: verifying it twice in one request would refuse it."""
    client = make_app(verifier, every_request=True)[0].test_client()
    assert client.get("/orders", headers={"authorization": "Bearer good"}).status_code == 200
    assert verifier.calls == [("Bearer good", None, ("api",), "127.0.0.1", "/orders")]
    assert client.get("/nothing-here", headers={"authorization": "Bearer good"}).status_code == 404
    assert len(verifier.calls) == 1


def test_every_request_mode_under_a_decorator_that_hides_the_mark(verifier: StandIn) -> None:
    """An outer decorator without functools.wraps hides ``required``: the hook verifies, ``required`` reuses
    its answer (a direct Apex JWT is single use) and still refuses what the hook refused."""
    app, forcegate = make_app(verifier, every_request=True)

    def plain(view: Callable[[], Any]) -> Callable[[], Any]:
        def inner() -> Any:
            return view()

        return inner

    @app.get("/hidden")
    @plain
    @forcegate.required(scopes=["api"])
    def hidden() -> dict[str, Any]:
        return {"org": g.forcegate.org_id}

    client = app.test_client()
    assert client.get("/hidden", headers={"authorization": "Bearer good"}).json == {"org": ORG_ID}
    assert len(verifier.calls) == 1
    refused = client.get("/hidden", headers={"authorization": "Bearer bad"})
    assert refused.status_code == 401
    assert len(verifier.calls) == 2
    assert client.get("/hidden").status_code == 401


def test_without_every_request_mode_g_forcegate_is_unset_outside_required_views(verifier: StandIn) -> None:
    client = make_app(verifier)[0].test_client()
    assert client.get("/public", headers={"authorization": "Bearer good"}).json == {"identity": "unset"}
    assert verifier.calls == []


# --- configuration ----------------------------------------------------------------------------------------


def configured(value: Any) -> Flask:
    app = Flask(__name__)
    if value is not None:
        app.config["FORCEGATE"] = value
    Forcegate(app)
    return app


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "app.config['FORCEGATE'] must be a dict naming the verifier"),
        ({}, "must name exactly one verifier, JWKS, REGISTRY or VERIFIER (found none)"),
        ({"JWKS": {"issuer": "https://a.example"}, "REGISTRY": {}}, "(found JWKS, REGISTRY)"),
        ({"jwks": {}}, "unknown key(s) jwks"),
        ({"JWKS": {"issuer": "https://a.example", "audiences": "x"}}, "not audiences"),
        ({"JWKS": {}}, "issuer required"),
        ({"JWKS": ["https://a.example"]}, "must be a dict of keyword arguments"),
        ({"REGISTRY": {"data_dirr": "x"}}, "'data_dirr' is not a forcegate setting"),
        ({"REGISTRY": {"public_url": "ftp://x"}}, "is refused: public_url 'ftp://x' is not an http(s) URL"),
        ({"REGISTRY": {"development": "false"}}, "['REGISTRY']: development must be true or false, not str"),
        ({"REGISTRY": {"leeway": "60"}}, "['REGISTRY']: leeway must be a whole number, not str"),
        ({"REGISTRY": {"extra_audiences": "https://a.example"}}, "extra_audiences must be a list of strings"),
        ({"REGISTRY": {"data_dir": 3}}, "data_dir must be a path, not int"),
        ({"VERIFIER": JWKSVerifier}, "must be a verifier, a function returning one"),
        ({"VERIFIER": "no.such.module.verifier"}, "cannot import 'no.such.module.verifier'"),
    ],
)
def test_a_wrong_configuration_fails_at_init_app(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        configured(value)
    assert message in refused.value.reason


def test_jwks(monkeypatch: pytest.MonkeyPatch) -> None:
    app = configured({"JWKS": {"issuer": "https://auth.example.com/", "leeway": 30}})
    verifier = Forcegate().get_verifier(app)
    assert isinstance(verifier, JWKSVerifier)
    assert verifier.issuer == verifier.audience == "https://auth.example.com"


def test_registry_settings_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FORCEGATE_SESSION_LIFETIME", "120")
    monkeypatch.setenv("FORCEGATE_DATA_DIR", "/not/this/one")
    app = configured(
        {
            "REGISTRY": {
                "DATA_DIR": str(tmp_path),  # any case, as in a Django-style dict
                "public_url": "https://auth.example.com",
                "extra_audiences": ["https://app.example.com"],
            }
        }
    )
    forcegate: Forcegate = Forcegate(verifier=StandIn())  # another instance reads the same app's state
    verifier = forcegate.get_verifier(app)
    assert isinstance(verifier, RegistryVerifier)
    settings: Settings = verifier.settings
    assert settings.data_dir == tmp_path
    assert settings.extra_audiences == ("https://app.example.com",)
    assert settings.session_lifetime == 120  # from the environment, beneath the dict


def test_a_given_verifier_by_object_factory_or_dotted_path() -> None:
    given = StandIn()
    assert Forcegate().get_verifier(configured({"VERIFIER": given})) is given
    assert isinstance(Forcegate().get_verifier(configured({"VERIFIER": make_stand_in})), StandIn)
    assert Forcegate().get_verifier(configured({"VERIFIER": f"{__name__}.STAND_IN"})) is STAND_IN


def test_close_closes_only_what_the_extension_built(verifier: StandIn) -> None:
    app, forcegate = make_app(verifier)
    forcegate.close(app)
    assert not verifier.closed  # the application's own
    given = configured({"VERIFIER": make_stand_in})
    Forcegate().close(given)
    made = Forcegate().get_verifier(given)
    assert isinstance(made, StandIn)
    assert not made.closed  # VERIFIER: the application's too
    built = configured({"JWKS": {"issuer": "https://auth.example.com"}})
    Forcegate().close(built)
    with pytest.raises(RuntimeError, match="closed"):
        Forcegate().get_verifier(built).verify("Bearer x")


def test_init_app_once_per_app(verifier: StandIn) -> None:
    app, forcegate = make_app(verifier)
    with pytest.raises(RuntimeError, match="already initialised"):
        forcegate.init_app(app)


# --- the Canvas blueprint ----------------------------------------------------------------------------------


def test_the_canvas_views_need_a_registry_verifier(verifier: StandIn) -> None:
    app, forcegate = make_app(verifier)
    with pytest.raises(ConfigurationError, match="needs REGISTRY"):
        app.register_blueprint(forcegate.canvas_blueprint(landing="page"))


def test_the_canvas_views_need_the_extension_first() -> None:
    with pytest.raises(RuntimeError, match="not initialised"):
        Flask(__name__).register_blueprint(Forcegate().canvas_blueprint(landing="/app"))


@pytest.mark.parametrize("target", ["https://evil.example.com/", "//evil.example.com", "app/x", "/\\evil"])
def test_canvas_redirects_stay_on_the_site(target: str) -> None:
    with pytest.raises(ConfigurationError, match="a path on this site"):
        Forcegate().canvas_blueprint(landing=target)
    with pytest.raises(ConfigurationError, match="a path on this site"):
        Forcegate().canvas_blueprint(landing="/app", after_logout=target)


def test_canvas_views_over_a_registry(tmp_path: Path) -> None:
    """Registered on an app whose verifier is a RegistryVerifier; its refusals are pages (no store here: 500)."""
    app = configured({"REGISTRY": {"data_dir": str(tmp_path / "none")}})
    forcegate = Forcegate(verifier=StandIn())
    app.register_blueprint(forcegate.canvas_blueprint(landing="/app"))
    try:
        response = app.test_client().post("/canvas", data={"signed_request": "x.y"})
        assert response.status_code == 500
        assert response.content_type == "text/html; charset=utf-8"
        assert "Request refused" in response.text
        assert {rule.rule for rule in app.url_map.iter_rules()} >= {
            "/canvas",
            "/canvas/logout",
            "/canvas/<consumer_key>",
        }
    finally:
        forcegate.get_verifier(app).close()


# --- packaging --------------------------------------------------------------------------------------------


def test_without_the_extra_the_import_names_it() -> None:
    result = run_python(
        "try:\n    import forcegate.integrations.flask\nexcept ImportError as exc:\n    print(exc.extra, exc)\n",
        blocked=["flask", "werkzeug"],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "flask forcegate.integrations.flask needs the 'flask' extra (flask is not installed): "
        "pip install 'forcegate[flask]'\n"
    )
