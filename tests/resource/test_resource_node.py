"""docs/resource-servers.md's Node example, run for real: jose (createRemoteJWKSet + jwtVerify) verifies
access tokens a live forcegate service issued through the JWT-bearer grant, and refuses what it must.

The script is tools/resource-server-node/verify-access-token.mjs (the file the guide shows and points
to); ``./scripts/test`` installs its one dependency with ``npm ci``. A missing ``node`` or an
uninstalled tools/resource-server-node fails these tests with the command that fixes it; they never skip.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.live import ORG_ID, USER_ID, LiveServer, Org

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "resource-server-node"
SCRIPT = TOOL / "verify-access-token.mjs"
GUIDE = ROOT / "docs" / "resource-servers.md"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is required for the resource-server guide's example (apt-get install nodejs npm)")
    if not (TOOL / "node_modules" / "jose").is_dir():
        pytest.fail(f"the Node example's dependencies are not installed: npm ci --prefix {TOOL}")
    return found


def run_jose(node: str, token: str, *, issuer: str, audience: str | None = None, scopes: tuple[str, ...] = ()) -> Any:
    argv = [node, str(SCRIPT), "--issuer", issuer]
    if audience is not None:
        argv += ["--audience", audience]
    for scope in scopes:
        argv += ["--scope", scope]
    result = subprocess.run(argv, input=token, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode in (0, 1), result.stderr
    answer = json.loads(result.stdout)
    assert answer["ok"] is (result.returncode == 0)
    return answer


def tampered(token: str) -> str:
    """``token`` with one more scope written into its claims (the signature left as it was)."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] += " admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def test_jose_verifies_a_live_access_token(node: str, live_server: LiveServer, new_token: Callable[[], str]) -> None:
    answer = run_jose(node, new_token(), issuer=live_server.url, scopes=("orders:read",))
    claims = answer["claims"]
    assert (claims["iss"], claims["aud"], claims["org_id"], claims["user_id"]) == (
        live_server.url,
        live_server.url,
        ORG_ID,
        USER_ID,
    )
    assert set(claims["scope"].split()) == {"api", "orders:read"}


def test_jose_refuses_a_tampered_token(node: str, live_server: LiveServer, new_token: Callable[[], str]) -> None:
    answer = run_jose(node, tampered(new_token()), issuer=live_server.url)
    assert answer["code"] == "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"


def test_jose_refuses_a_wrong_audience(node: str, live_server: LiveServer, new_token: Callable[[], str]) -> None:
    answer = run_jose(node, new_token(), issuer=live_server.url, audience="https://orders.example.com")
    assert answer["code"] == "ERR_JWT_CLAIM_VALIDATION_FAILED"
    assert '"aud"' in answer["message"]


def test_jose_refuses_a_missing_scope_and_an_apex_assertion(
    node: str, live_server: LiveServer, new_token: Callable[[], str], registered: Org
) -> None:
    assert run_jose(node, new_token(), issuer=live_server.url, scopes=("orders:write",))["code"] == (
        "ERR_INSUFFICIENT_SCOPE"
    )
    # An Apex assertion is RS256 with no typ: not an access token, whoever signed it.
    assertion = registered.assertion(live_server.settings.token_endpoint)
    assert run_jose(node, assertion, issuer=live_server.url)["code"] == "ERR_JOSE_ALG_NOT_ALLOWED"


def test_the_guide_shows_the_script_that_runs() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    assert "tools/resource-server-node/verify-access-token.mjs" in guide
    [shown] = [block for block in re.findall(r"```js\n(.*?)```", guide, re.S) if "jwtVerify" in block]
    assert shown.strip() in SCRIPT.read_text(encoding="utf-8")
