"""Auth.JWTBearerTokenExchange, emulated: the exact request, and every way the answer can go wrong."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest

from forcegate.clock import FixedClock
from forcegate.devtools.apex_jwt import AuthJWS, AuthJWT, CertificateAndKeyManagement
from forcegate.devtools.token_exchange import GRANT_TYPE, AsyncJWTBearerTokenExchange, JWTBearerTokenExchange
from forcegate.errors import ConfigurationError, TokenExchangeError

ENDPOINT = "https://service.example.com/oauth2/token"
ACCESS_TOKEN = "at-0123456789abcdef"
ERROR_BODY = '{"error":"invalid_grant","error_description":"audience is invalid"}'

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def jws(certificates: CertificateAndKeyManagement, cert_name: str) -> AuthJWS:
    jwt = AuthJWT(iss="00D000000000001AAA", sub="user@example.com", aud=ENDPOINT)
    return AuthJWS(jwt, cert_name, certificates=certificates, clock=FixedClock(1_700_000_000))


def _client(handler: Handler, seen: list[httpx.Request]) -> httpx.Client:
    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    return httpx.Client(transport=httpx.MockTransport(record))


def _ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})


def _assert_no_secrets(error: TokenExchangeError, jws: AuthJWS) -> None:
    for text in (str(error), error.reason, repr(error)):
        assert jws.compact_serialization() not in text
        assert ACCESS_TOKEN not in text


# --- the request, seen through httpx.MockTransport ------------------------------------------------


def test_request_is_exactly_the_rfc7523_grant(jws: AuthJWS) -> None:
    seen: list[httpx.Request] = []
    with _client(_ok, seen) as client:
        assert JWTBearerTokenExchange(ENDPOINT, jws, client=client).access_token() == ACCESS_TOKEN
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == ENDPOINT
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in request.headers
    form = parse_qs(request.content.decode("ascii"), strict_parsing=True)
    assert form == {"grant_type": [GRANT_TYPE], "assertion": [jws.compact_serialization()]}
    assert "client_id" not in form
    assert "client_secret" not in form


def test_client_auth_and_default_authorization_header_are_not_sent(jws: AuthJWS) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok(request)

    client = httpx.Client(
        transport=httpx.MockTransport(record), auth=("client", "secret"), headers={"Authorization": "Bearer x"}
    )
    with client:
        JWTBearerTokenExchange(ENDPOINT, jws, client=client).access_token()
    assert "Authorization" not in seen[0].headers


def test_reads_only_access_token(jws: AuthJWS) -> None:
    # Fields a strict client would check (token_type, expires_in) are ignored, as by getAccessToken.
    odd = {"access_token": ACCESS_TOKEN, "token_type": "MAC", "expires_in": "soon", "instance_url": None}
    seen: list[httpx.Request] = []
    with _client(lambda _: httpx.Response(200, json=odd), seen) as client:
        assert JWTBearerTokenExchange(ENDPOINT, jws, client=client).access_token() == ACCESS_TOKEN


def test_getters_setters_and_default_grant_type(jws: AuthJWS) -> None:
    exchange = JWTBearerTokenExchange()
    assert (exchange.get_token_endpoint(), exchange.get_jws()) == (None, None)
    assert exchange.get_grant_type() == GRANT_TYPE == JWTBearerTokenExchange.GRANT_TYPE
    assert GRANT_TYPE == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    exchange.set_token_endpoint(ENDPOINT)
    exchange.set_jws(jws)
    assert (exchange.get_token_endpoint(), exchange.get_jws()) == (ENDPOINT, jws)


def test_set_grant_type_is_sent(jws: AuthJWS) -> None:
    seen: list[httpx.Request] = []
    with _client(_ok, seen) as client:
        exchange = JWTBearerTokenExchange(ENDPOINT, jws, client=client)
        exchange.set_grant_type("urn:example:custom")
        twin = exchange.clone()
        twin.access_token()
    assert parse_qs(seen[0].content.decode())["grant_type"] == ["urn:example:custom"]


def test_missing_endpoint_or_jws(jws: AuthJWS) -> None:
    with pytest.raises(ConfigurationError, match="endpoint"):
        JWTBearerTokenExchange(None, jws).access_token()
    with pytest.raises(ConfigurationError, match="JWS"):
        JWTBearerTokenExchange(ENDPOINT).access_token()


def test_http_response_before_any_call() -> None:
    with pytest.raises(ConfigurationError, match="no token response"):
        JWTBearerTokenExchange(ENDPOINT).http_response()


def test_http_response_is_the_last_response_even_on_error(jws: AuthJWS) -> None:
    seen: list[httpx.Request] = []
    with _client(lambda _: httpx.Response(400, text=ERROR_BODY), seen) as client:
        exchange = JWTBearerTokenExchange(ENDPOINT, jws, client=client)
        with pytest.raises(TokenExchangeError):
            exchange.access_token()
    assert exchange.http_response().status_code == 400
    assert exchange.http_response().text == ERROR_BODY


@pytest.mark.parametrize(
    ("response", "status", "reason_part"),
    [
        (httpx.Response(400, text=ERROR_BODY), 400, "HTTP 400 (error=invalid_grant)"),
        (httpx.Response(401, text="unauthorized"), 401, "HTTP 401"),
        (httpx.Response(302, headers={"Location": "https://elsewhere.example"}), 302, "HTTP 302"),
        (httpx.Response(201, json={"access_token": ACCESS_TOKEN}), 201, "HTTP 201"),
        (httpx.Response(200, json={"token": ACCESS_TOKEN}), 200, "without"),
        (httpx.Response(200, json={"access_token": 42}), 200, "without"),
        (httpx.Response(200, json={"access_token": ""}), 200, "without"),
        (httpx.Response(200, json=[ACCESS_TOKEN]), 200, "without"),
        (httpx.Response(200, text=f"access_token={ACCESS_TOKEN}"), 200, "not JSON"),
        (httpx.Response(200, content=b"\xff\xfe{"), 200, "not JSON"),
    ],
)
def test_anything_but_200_json_access_token_raises(
    jws: AuthJWS, response: httpx.Response, status: int, reason_part: str
) -> None:
    seen: list[httpx.Request] = []
    with _client(lambda _: response, seen) as client, pytest.raises(TokenExchangeError) as info:
        JWTBearerTokenExchange(ENDPOINT, jws, client=client).access_token()
    assert info.value.status_code == status
    assert info.value.body == response.text
    assert reason_part in info.value.reason
    _assert_no_secrets(info.value, jws)
    assert len(seen) == 1  # redirects are not followed


def test_error_code_hint_is_only_a_code(jws: AuthJWS) -> None:
    body = json.dumps({"error": "not a code: " + jws.compact_serialization()})
    seen: list[httpx.Request] = []
    with _client(lambda _: httpx.Response(400, text=body), seen) as client, pytest.raises(TokenExchangeError) as info:
        JWTBearerTokenExchange(ENDPOINT, jws, client=client).access_token()
    assert info.value.reason == "token endpoint answered HTTP 400"
    assert info.value.body == body
    _assert_no_secrets(info.value, jws)


def test_transport_error_has_status_zero(jws: AuthJWS) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with httpx.Client(transport=httpx.MockTransport(fail)) as client, pytest.raises(TokenExchangeError) as info:
        JWTBearerTokenExchange(ENDPOINT, jws, client=client).access_token()
    assert (info.value.status_code, info.value.body) == (0, "")
    assert "ConnectTimeout" in info.value.reason
    _assert_no_secrets(info.value, jws)


def test_invalid_url_is_a_transport_error(jws: AuthJWS) -> None:
    with pytest.raises(TokenExchangeError) as info:
        JWTBearerTokenExchange("ftp://service.example.com/token", jws).access_token()
    assert info.value.status_code == 0
    assert "UnsupportedProtocol" in info.value.reason


def test_repr_does_not_show_the_assertion(jws: AuthJWS) -> None:
    exchange = JWTBearerTokenExchange(ENDPOINT, jws)
    assert jws.compact_serialization() not in repr(exchange)
    assert ENDPOINT in repr(exchange)


# --- the async variant -----------------------------------------------------------------------------


def test_async_exchange(jws: AuthJWS) -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        await request.aread()
        seen.append(request)
        return _ok(request)

    async def run() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
            exchange = AsyncJWTBearerTokenExchange(ENDPOINT, jws, client=client).clone()
            return await exchange.access_token()

    assert asyncio.run(run()) == ACCESS_TOKEN
    assert parse_qs(seen[0].content.decode()) == {
        "grant_type": [GRANT_TYPE],
        "assertion": [jws.compact_serialization()],
    }
    assert "Authorization" not in seen[0].headers


def test_async_exchange_error(jws: AuthJWS) -> None:
    async def refuse(_: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=ERROR_BODY)

    exchanges: list[AsyncJWTBearerTokenExchange] = []

    async def run() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            exchanges.append(AsyncJWTBearerTokenExchange(ENDPOINT, jws, client=client))
            return await exchanges[0].access_token()

    with pytest.raises(TokenExchangeError) as info:
        asyncio.run(run())
    assert (info.value.status_code, info.value.body) == (400, ERROR_BODY)
    assert exchanges[0].http_response().status_code == 400


def test_async_transport_error_without_client(jws: AuthJWS) -> None:
    exchange = AsyncJWTBearerTokenExchange("ftp://service.example.com/token", jws)
    with pytest.raises(TokenExchangeError) as info:
        asyncio.run(exchange.access_token())
    assert info.value.status_code == 0


# --- against a real HTTP server on 127.0.0.1 -------------------------------------------------------


@dataclass
class _TokenServer:
    base_url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


_ROUTES: dict[str, tuple[int, str, bytes]] = {
    "/ok": (200, "application/json", json.dumps({"access_token": ACCESS_TOKEN, "token_type": "Bearer"}).encode()),
    "/bad": (400, "application/json", ERROR_BODY.encode()),
    "/no-token": (200, "application/json", b'{"token_type":"Bearer","scope":"api"}'),
    "/html": (200, "text/html", b"<html><body>Sign in</body></html>"),
}


@pytest.fixture
def token_server() -> Iterator[_TokenServer]:
    server_state = _TokenServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            server_state.requests.append((self.path, dict(self.headers.items()), body))
            status, content_type, payload = _ROUTES[self.path]
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server_state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_real_server_success(jws: AuthJWS, token_server: _TokenServer) -> None:
    exchange = JWTBearerTokenExchange(f"{token_server.base_url}/ok", jws, timeout=5)
    assert exchange.access_token() == ACCESS_TOKEN
    assert exchange.http_response().status_code == 200
    ((path, headers, body),) = token_server.requests
    lower = {name.lower(): value for name, value in headers.items()}
    assert path == "/ok"
    assert lower["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in lower
    assert parse_qs(body.decode("ascii")) == {"grant_type": [GRANT_TYPE], "assertion": [jws.compact_serialization()]}


def test_real_server_rfc6749_error(jws: AuthJWS, token_server: _TokenServer) -> None:
    with pytest.raises(TokenExchangeError) as info:
        JWTBearerTokenExchange(f"{token_server.base_url}/bad", jws, timeout=5).access_token()
    assert info.value.status_code == 400
    assert json.loads(info.value.body) == {"error": "invalid_grant", "error_description": "audience is invalid"}
    assert "invalid_grant" in str(info.value)
    assert "audience is invalid" not in str(info.value)  # free text stays in the body
    _assert_no_secrets(info.value, jws)


@pytest.mark.parametrize(("path", "reason_part"), [("/no-token", "without"), ("/html", "not JSON")])
def test_real_server_200_without_token(jws: AuthJWS, token_server: _TokenServer, path: str, reason_part: str) -> None:
    with pytest.raises(TokenExchangeError) as info:
        JWTBearerTokenExchange(f"{token_server.base_url}{path}", jws, timeout=5).access_token()
    assert info.value.status_code == 200
    assert info.value.body == _ROUTES[path][2].decode()
    assert reason_part in info.value.reason


def test_real_connection_refused(jws: AuthJWS) -> None:
    # A bound socket that never listens: the port stays ours, and connecting to it is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        exchange = JWTBearerTokenExchange(f"http://127.0.0.1:{port}/token", jws, timeout=5)
        with pytest.raises(TokenExchangeError) as info:
            exchange.access_token()
    assert (info.value.status_code, info.value.body) == (0, "")
    assert "ConnectError" in info.value.reason
    _assert_no_secrets(info.value, jws)
    with pytest.raises(ConfigurationError):
        exchange.http_response()
