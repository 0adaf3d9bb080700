"""forcegate.integrations._web: the answers every framework adapter copies into its own response."""

from __future__ import annotations

import orjson
import pytest

from forcegate.errors import (
    CanvasSignatureInvalid,
    ConfigurationError,
    ForcegateError,
    InsufficientScope,
    MalformedCredentials,
    NoCredentials,
    RateLimited,
    StoreUnavailable,
)
from forcegate.integrations._web import (
    PAGE_HEADERS,
    check_local_path,
    json_answer,
    origin_of,
    page_answer,
    same_site_session,
    signed_out,
)
from forcegate.resource._refusal import refusal


def test_json_is_forcegates_body_status_and_headers() -> None:
    answer = json_answer(refusal(InsufficientScope("missing scope(s): admin"), development=False))
    assert (answer.status, answer.content_type) == (403, "application/json")
    assert orjson.loads(answer.body) == {"error": "insufficient_scope"}
    assert ("www-authenticate", 'Bearer realm="forcegate", error="insufficient_scope"') in answer.headers
    assert ("cache-control", "no-store") in answer.headers


@pytest.mark.parametrize(
    ("error", "status", "title"),
    [
        (NoCredentials("no credential"), 401, "Not signed in"),
        (CanvasSignatureInvalid("bad signature"), 401, "Canvas request refused"),
        (MalformedCredentials("two spaces"), 400, "Request refused"),
        (RateLimited("too many", retry_after=7), 429, "Too many requests"),
        (StoreUnavailable("db down at 10.0.0.5"), 503, "Unavailable"),
    ],
)
def test_a_page_keeps_the_status_and_headers(error: ForcegateError, status: int, title: str) -> None:
    answer = page_answer(refusal(error, development=False, canvas=isinstance(error, CanvasSignatureInvalid)))
    page = answer.body.decode()
    assert (answer.status, answer.content_type) == (status, "text/html; charset=utf-8")
    assert f"<h1>{title}</h1>" in page
    assert set(PAGE_HEADERS) <= set(answer.headers)
    assert ("cache-control", "no-store") in answer.headers
    assert "10.0.0.5" not in page  # an outage's reason is for the log
    if isinstance(error, RateLimited):
        assert ("retry-after", "7") in answer.headers
        assert "(rate_limited: too many)" in page  # a rate limit is safe to explain


def test_a_page_escapes_what_it_shows() -> None:
    answer = page_answer(refusal(MalformedCredentials("<script>x</script>"), development=False))
    assert b"<script>" not in answer.body
    assert b"&lt;script&gt;" in answer.body


def test_signed_out_is_a_page_or_a_redirect_with_the_cookie_removed() -> None:
    page = signed_out("forcegate_session=; Max-Age=0")
    assert (page.status, ("set-cookie", "forcegate_session=; Max-Age=0") in page.headers) == (200, True)
    redirect = signed_out("forcegate_session=; Max-Age=0", "/bye")
    assert redirect.status == 303
    assert ("location", "/bye") in redirect.headers
    assert ("set-cookie", "forcegate_session=; Max-Age=0") in redirect.headers


@pytest.mark.parametrize("path", ["/app", "/app/x?y=1"])
def test_local_paths(path: str) -> None:
    assert check_local_path(path, what="landing") == path


@pytest.mark.parametrize(
    "path", ["app", "//evil.example.com", "/\\evil.example.com", "https://evil.example.com", "/a\nb"]
)
def test_paths_that_leave_the_site(path: str) -> None:
    with pytest.raises(ConfigurationError):
        check_local_path(path, what="landing")


def test_origin_of() -> None:
    assert origin_of("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"
    assert origin_of("https://app.example.com/x/y") == "https://app.example.com"


OWN = "https://app.example.com"


@pytest.mark.parametrize(
    ("method", "origin", "fetch_site", "kept"),
    [
        ("GET", "https://evil.example", "cross-site", True),  # safe methods: as SameSite=Lax lets them
        ("POST", OWN, None, True),
        ("POST", "https://trusted.example", None, True),
        ("POST", "https://evil.example", None, False),  # login or action CSRF from another site's page
        ("DELETE", "null", None, False),  # a sandboxed frame or a data: page
        ("POST", None, "cross-site", False),
        ("POST", None, "same-origin", True),
        ("POST", None, None, True),  # not a browser's cross-site form: nothing says it is
    ],
)
def test_a_session_cookie_is_read_as_samesite_would_send_it(
    method: str, origin: str | None, fetch_site: str | None, kept: bool
) -> None:
    session = same_site_session(
        "s1",
        method=method,
        origin=origin,
        fetch_site=fetch_site,
        own_origin=OWN,
        trusted_origins=("https://trusted.example",),
    )
    assert session == ("s1" if kept else None)
    assert same_site_session(None, method=method, origin=origin, fetch_site=fetch_site, own_origin=OWN) is None
