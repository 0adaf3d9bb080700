"""``forcegate admin rotate-signing-key | retire-signing-key KID | signing-keys``."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from datetime import datetime

import pytest

from forcegate.cli._stores import run_with_stores
from forcegate.service.bootstrap import bootstrap
from forcegate.settings import load_settings
from forcegate.stores import SigningKey, Stores
from helpers import Runner

KID = re.compile(r"[A-Za-z0-9_-]{43}")  # an RFC 7638 thumbprint (SHA-256, base64url)
ORG = "00D5g000004ABCDEA4"


def first_key() -> str:
    """Bootstrap the data folder, as the first `forcegate serve` does; the kid of its signing key."""
    created = asyncio.run(bootstrap(load_settings())).signing_key_created
    assert created is not None
    return created


def stored() -> Sequence[SigningKey]:
    async def action(stores: Stores) -> Sequence[SigningKey]:
        return await stores.keys.signing_keys()

    return run_with_stores(action)


def listing(forcegate: Runner) -> list[dict[str, object]]:
    outcome = forcegate("admin", "signing-keys", "--json")
    assert outcome.code == 0, outcome.err
    keys: list[dict[str, object]] = json.loads(outcome.out)
    return keys


def safe_time(err: str) -> float:
    found = re.search(r"retire them after (\S+Z) ", err)
    assert found, err
    return datetime.fromisoformat(found.group(1).replace("Z", "+00:00")).timestamp()


def test_rotate_makes_a_new_signer_and_says_when_the_old_key_can_go(forcegate: Runner) -> None:
    old = first_key()
    before = time.time()
    outcome = forcegate("admin", "rotate-signing-key")
    assert outcome.code == 0, outcome.err
    new = outcome.out.strip()
    assert outcome.out == new + "\n"  # the kid alone on stdout, for scripts
    assert KID.fullmatch(new)
    assert new != old
    assert f"{new} signs new access tokens" in outcome.err
    assert f"the earlier key(s) {old} keep verifying until retired" in outcome.err
    # The default token lifetime (600 s) plus the leeway (60 s), from now.
    assert "(the longest token lifetime, 600 s, plus the 60 s leeway)" in outcome.err
    assert before + 660 - 1 <= safe_time(outcome.err) <= time.time() + 660 + 1
    assert "PRIVATE KEY" not in outcome.out + outcome.err
    keys = stored()
    assert [k.kid for k in keys] == [new, old]
    assert keys[0].created_at > keys[1].created_at
    assert [(k["kid"], k["active"], k["signing"]) for k in listing(forcegate)] == [
        (new, True, True),
        (old, True, False),
    ]


def test_the_safe_time_counts_the_longest_org_token_lifetime(forcegate: Runner) -> None:
    first_key()
    assert forcegate("orgs", "add", ORG, "--token-lifetime", "7200").code == 0
    outcome = forcegate("admin", "rotate-signing-key")
    assert outcome.code == 0, outcome.err
    assert "(the longest token lifetime, 7200 s, plus the 60 s leeway)" in outcome.err
    assert safe_time(outcome.err) >= time.time() + 7200 + 60 - 2


def test_a_new_key_is_the_newest_even_when_this_host_clock_lags(forcegate: Runner) -> None:
    first_key()
    private_pem = stored()[0].private_pem

    async def ahead(stores: Stores) -> None:
        # The current signer was made by a host whose clock runs an hour ahead of this one.
        key = SigningKey(kid="made-ahead", algorithm="ES256", private_pem=private_pem, created_at=time.time() + 3600)
        await stores.keys.add_signing_key(key)

    run_with_stores(ahead)
    new = forcegate("admin", "rotate-signing-key").out.strip()
    keys = listing(forcegate)
    assert (keys[0]["kid"], keys[0]["signing"]) == (new, True)
    assert keys[1]["kid"] == "made-ahead"


def test_list_shows_kid_created_active_and_signing(forcegate: Runner) -> None:
    old = first_key()
    new = forcegate("admin", "rotate-signing-key").out.strip()
    outcome = forcegate("admin", "signing-keys")
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(rf"{new}  \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ  active  signing", lines[0])
    assert re.fullmatch(rf"{old}  \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ  active  verifying", lines[1])
    assert set(listing(forcegate)[0]) == {"kid", "algorithm", "created_at", "active", "signing"}
    assert listing(forcegate)[0]["algorithm"] == "ES256"


def test_retire_removes_an_earlier_key_and_warns_while_its_tokens_may_live(forcegate: Runner) -> None:
    old = first_key()
    new = forcegate("admin", "rotate-signing-key").out.strip()
    outcome = forcegate("admin", "retire-signing-key", old)
    assert outcome.code == 0, outcome.err
    assert outcome.out == f"retired signing key {old}\n"
    # Rotated a moment ago: tokens the old key signed may still be unexpired.
    assert f"forcegate: warning: tokens signed with {old} may be unexpired until" in outcome.err
    assert [k.kid for k in stored()] == [new]


def test_retiring_the_signer_is_refused_with_exit_1(forcegate: Runner) -> None:
    old = first_key()
    new = forcegate("admin", "rotate-signing-key").out.strip()
    outcome = forcegate("admin", "retire-signing-key", new)
    assert outcome.code == 1
    assert outcome.out == ""
    assert outcome.err.startswith(f"forcegate: registry_error: signing key {new} is the one that signs")
    assert [k.kid for k in stored()] == [new, old]


def test_retiring_the_only_key_is_refused(forcegate: Runner) -> None:
    only = first_key()
    outcome = forcegate("admin", "retire-signing-key", only)
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: registry_error: ")
    assert [k.kid for k in stored()] == [only]


def test_retiring_an_unknown_key_is_not_found(forcegate: Runner) -> None:
    first_key()
    outcome = forcegate("admin", "retire-signing-key", "no-such-kid")
    assert outcome.code == 1
    assert outcome.err == "forcegate: not_found: no signing key with kid 'no-such-kid'\n"


def test_a_missing_kid_is_a_usage_error(forcegate: Runner) -> None:
    assert forcegate("admin", "retire-signing-key").code == 2


def test_a_bad_configuration_is_a_usage_error(forcegate: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCEGATE_DATABASE_URL", "mysql://db/forcegate")
    for args in (("rotate-signing-key",), ("retire-signing-key", "k"), ("signing-keys",)):
        outcome = forcegate("admin", *args)
        assert outcome.code == 2, args
        assert outcome.err.startswith("forcegate: configuration_error: ")


def test_a_kid_starting_with_a_dash_is_taken_as_the_kid(forcegate: Runner) -> None:
    # A kid is base64url and may start with "-" (one in 64 do): not an option to the CLI.
    outcome = forcegate("admin", "retire-signing-key", "-e_no-such-kid")
    assert outcome.code == 1
    assert outcome.err == "forcegate: not_found: no signing key with kid '-e_no-such-kid'\n"
