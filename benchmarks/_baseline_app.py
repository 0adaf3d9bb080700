"""Baseline ASGI apps for benchmarks/bench_http.py: the least a token endpoint can do per request.

Every request reads its whole body and does exactly one RS256 verify (RSA-2048, PKCS#1 v1.5,
SHA-256) of a fixed JWT with ``cryptography``: base64url-decode the signature, then
``public_key.verify``. The answer is a small JSON document. Nothing is parsed, routed or stored.

Modes (``FORCEGATE_BENCH_MODE``, or ``--mode``) measure what a framework layer costs on top:

* ``raw``: raw ASGI, the baseline of every comparison;
* ``starlette-body``: a Starlette app routing ``POST /oauth2/token`` to an endpoint that reads
  ``await request.body()``, verifies, answers with ``JSONResponse`` (any other path: 404);
* ``starlette-form``: the same, but parsing the body with ``await request.form()`` (python-multipart)
  and taking ``assertion`` from it.

Run standalone (bench_http.py does this) with the uvicorn settings ``forcegate serve`` uses:

    .venv/bin/python benchmarks/_baseline_app.py --port 8100 [--workers 2] [--mode raw]

or under another server via the factory ``_baseline_app:create_app`` (app dir: benchmarks/).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["MODES", "create_app", "fixed_token"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODES = ("raw", "starlette-body", "starlette-form")
MODE_VARIABLE = "FORCEGATE_BENCH_MODE"

_BODY = b'{"ok":true}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode("ascii"))]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fixed_token(private_key: rsa.RSAPrivateKey) -> str:
    """An Apex-shaped RS256 JWT (header exactly ``{"alg":"RS256"}``) signed by ``private_key``."""
    now = int(time.time())
    claims = {
        "iss": "00D5g000004ABCDEA4",
        "sub": "integration.user@example.com",
        "aud": "http://127.0.0.1/oauth2/token",
        "exp": now + 300,
        "nbf": now,
    }
    signing_input = _b64url(b'{"alg":"RS256"}') + "." + _b64url(json.dumps(claims).encode())
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(signature)


def _verifier() -> Callable[[], None]:
    """One RS256 verify of a fixed JWT per call: the signature part only, as the brief specifies."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = private_key.public_key()
    token = fixed_token(private_key)
    head, payload, sig = token.split(".")
    signing_input = f"{head}.{payload}".encode("ascii")
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def verify() -> None:
        public_key.verify(_b64url_decode(sig), signing_input, pkcs1, sha256)

    verify()  # fail at startup, not under load
    return verify


def _raw_app(verify: Callable[[], None]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        while True:  # the whole body, as the token endpoint must read it
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                break
        verify()
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _BODY})

    return app


def _starlette_app(verify: Callable[[], None], *, form: bool) -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def with_body(request: Request) -> Response:
        await request.body()
        verify()
        return JSONResponse({"ok": True})

    async def with_form(request: Request) -> Response:
        fields = await request.form()
        if not isinstance(fields.get("assertion"), str):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        verify()
        return JSONResponse({"ok": True})

    async def me(request: Request) -> Response:
        if not request.headers.get("authorization"):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        verify()
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/oauth2/token", with_form if form else with_body, methods=["POST"]),
            Route("/api/v1/me", me, methods=["GET"]),
        ]
    )


def create_app(mode: str | None = None) -> ASGIApp:
    """The app for ``mode`` (default: ``$FORCEGATE_BENCH_MODE``, else ``raw``); a fresh key per process."""
    chosen = mode or os.environ.get(MODE_VARIABLE, "raw")
    verify = _verifier()
    if chosen == "raw":
        return _raw_app(verify)
    if chosen in ("starlette-body", "starlette-form"):
        return _starlette_app(verify, form=chosen == "starlette-form")
    raise ValueError(f"unknown baseline mode {chosen!r}; one of {', '.join(MODES)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a baseline app with forcegate serve's uvicorn settings.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--mode", choices=MODES, default="raw")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()

    import uvicorn

    os.environ[MODE_VARIABLE] = args.mode  # worker processes import the factory afresh
    # The settings of src/forcegate/cli/serve_command.py, with the implementations it gets from
    # uvicorn's "auto" (httptools and uvloop are installed) named explicitly.
    uvicorn.run(
        "_baseline_app:create_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        http="httptools",
        loop="uvloop",
        log_level=args.log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
