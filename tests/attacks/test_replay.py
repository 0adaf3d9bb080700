"""Single use: an assertion buys one token (or one API call), however it is sent again.

A second presentation is refused with ``assertion_replayed`` and changes nothing: the first token
stands, no second token or claim is written, and the org's rate budget is not spent again. A copy
re-encoded to look new (padding, the other base64 alphabet, whitespace) is not a new assertion either:
the strict parser refuses it before it could claim a second use.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from attacks.forge import DROP, Forge
from attacks.harness import ENTRIES, Library, Target
from core.assertion_support import MemoryReplay
from forcegate.errors import AssertionReplayed
from server.live import JWT_BEARER_GRANT


def _assertions(forge: Forge) -> dict[str, str]:
    return {
        "with-jti": forge.token(),
        "apex-shaped-without-jti": forge.token(forge.claims(jti=DROP)),
    }


SHAPES = ("with-jti", "apex-shaped-without-jti")


def _variants(token: str) -> dict[str, str]:
    """Copies of ``token`` that a lenient parser would read as the same JWS."""
    head, payload, signature = token.split(".")
    last = signature[-1]
    # The last base64url character of a 256-byte signature carries 4 unused bits: flip one of them.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    non_canonical = signature[:-1] + alphabet[alphabet.index(last) ^ 1]
    return {
        "padded-signature": f"{head}.{payload}.{signature}==",
        "padded-header": f"{head}==.{payload}.{signature}",
        "standard-alphabet": token.replace("-", "+").replace("_", "/"),
        "non-canonical-signature": f"{head}.{payload}.{non_canonical}",
        "trailing-space": token + " ",
        "trailing-newline": token + "\n",
        "leading-space": " " + token,
        "trailing-dot": token + ".",
        "json-serialization": json.dumps({"protected": head, "payload": payload, "signature": signature}),
    }


VARIANTS = (
    "padded-signature",
    "padded-header",
    "standard-alphabet",
    "non-canonical-signature",
    "trailing-space",
    "trailing-newline",
    "leading-space",
    "trailing-dot",
    "json-serialization",
)


# --- the core --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_the_second_use_is_refused_by_the_core(library: Library, shape: str) -> None:
    token = _assertions(library.forge)[shape]
    replay = MemoryReplay()
    first = library.verify(token, replay)
    assert list(replay.claimed) == [first.replay_key]
    with pytest.raises(AssertionReplayed) as caught:
        library.verify(token, replay)
    assert caught.value.verified is True
    assert list(replay.claimed) == [first.replay_key]


def test_a_second_assertion_with_the_same_jti_is_a_replay(library: Library) -> None:
    forge = library.forge
    replay = MemoryReplay()
    library.verify(forge.token(forge.claims(jti="once")), replay)
    with pytest.raises(AssertionReplayed):
        library.verify(forge.token(forge.claims(jti="once", sub="grace@example.com")), replay)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_re_encoded_copy_is_not_a_new_assertion(library: Library, variant: str) -> None:
    token = library.forge.token()
    replay = MemoryReplay()
    library.verify(token, replay)
    copy = _variants(token)[variant]
    assert copy != token
    library.refuse(copy, "malformed_token")  # the strict parser: never a second spelling of one token


# --- over HTTP ---------------------------------------------------------------------------------------


def _first_use(http: Target, token: str, entry: str) -> str | None:
    """Use ``token`` once at ``entry``; the access token it bought (None at the API)."""
    if entry == "token":
        response = http.token(token)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])
    response = http.me(token)
    assert response.status_code == 200, response.text
    return None


@pytest.mark.parametrize("second", ENTRIES)
@pytest.mark.parametrize("first", ENTRIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_the_second_use_is_refused_over_http(http: Target, shape: str, first: str, second: str) -> None:
    token = _assertions(http.forge)[shape]
    before = http.state()
    access_token = _first_use(http, token, first)
    used = http.state()
    assert used.rows["replay"] == before.rows["replay"] + 1
    assert used.rows["issued_tokens"] == before.rows["issued_tokens"] + (first == "token")
    refusal = http.refused_assertion(token, "assertion_replayed", second)
    assert refusal.audit == [("assertion_replayed", "denied", True)]  # the org really sent it: verified
    if access_token is not None:
        me = http.me(access_token)  # the first token stands
        assert me.status_code == 200, me.text
        assert me.json()["org_id"] == http.forge.org_a


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_re_encoded_copy_buys_no_second_token(http: Target, variant: str) -> None:
    token = http.forge.token()
    _first_use(http, token, "token")
    http.refused_at_token_endpoint(_variants(token)[variant], "malformed_token")


def test_concurrent_uses_buy_one_token(http: Target) -> None:
    """Sent eight times at once: one token, seven refusals, one claim (the claim is one atomic write)."""
    token = http.forge.token()
    before = http.state()

    def send(_: int) -> httpx.Response:
        with http.server.client() as client:
            return client.post("/oauth2/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": token})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))
    after = http.state()
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [400] * 7, [response.text for response in responses]
    assert after.rows["issued_tokens"] == before.rows["issued_tokens"] + 1
    assert after.rows["replay"] == before.rows["replay"] + 1
    codes = sorted(code for code, _, _ in http.audit_since(before.audit_id))
    assert codes == ["assertion_replayed"] * 7 + ["ok"]
