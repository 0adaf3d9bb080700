"""``forcegate admin create-user`` and ``forcegate orgs migration-status``."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from forcegate.cli._stores import run_with_stores
from forcegate.clock import SystemClock
from forcegate.service.console_sign_in import ConsoleSignIn
from forcegate.stores import Org, Stores
from forcegate.stores.models import AuditEvent
from helpers import Runner

A, B, C = "00D5g000004ABCDEA4", "00D5g000004XYZWEA4", "00D5g000009ZZZZEA4"


def signs_in(name: str, password: str) -> bool:
    async def action(stores: Stores) -> bool:
        try:
            await ConsoleSignIn(stores, clock=SystemClock()).sign_in_password(name, password, client="cli-test")
        except Exception:
            return False
        return True

    return run_with_stores(action)


def test_create_user_from_an_environment_variable(
    forcegate: Runner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_PASSWORD", "a long enough passphrase")
    outcome = forcegate("admin", "create-user", "alice", "--password-env", "CONSOLE_PASSWORD")
    assert outcome.code == 0, outcome.err
    assert outcome.out == "alice\n"
    assert signs_in("alice", "a long enough passphrase")
    assert not signs_in("alice", "a long enough passphrasE")
    with sqlite3.connect(data_dir / "forcegate.db") as conn:
        [(stored,)] = conn.execute("SELECT password_hash FROM console_operators").fetchall()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert b"a long enough passphrase" not in (data_dir / "forcegate.db").read_bytes()
    again = forcegate("admin", "create-user", "alice", "--password-env", "CONSOLE_PASSWORD")
    assert again.code == 1
    assert "already exists" in again.err


def test_create_user_prompts_twice_and_refuses_a_short_password(forcegate: Runner) -> None:
    outcome = forcegate("admin", "create-user", "bob", stdin="twelve chars ok\ntwelve chars ok\n")
    assert outcome.code == 0, outcome.err
    assert signs_in("bob", "twelve chars ok")
    short = forcegate("admin", "create-user", "carol", stdin="short\nshort\n")
    assert short.code == 1
    assert "12 to 1024 characters" in short.err
    bad_name = forcegate("admin", "create-user", "no spaces", stdin="twelve chars ok\ntwelve chars ok\n")
    assert bad_name.code == 1
    assert "operator name" in bad_name.err


def _seed() -> None:
    now = time.time()

    async def action(stores: Stores) -> None:
        for org_id in (A, B, C):
            await stores.trust.add_org(Org(org_id=org_id))

        def event(org_id: str, credential: str) -> AuditEvent:
            return AuditEvent(
                at=now - 60, endpoint="/x", credential=credential, result="allowed", code="ok", org_id=org_id
            )

        await stores.audit.append([event(A, "canvas"), event(B, "canvas"), event(B, "jwt-bearer")])

    run_with_stores(action)


def test_migration_status_in_json_and_text(forcegate: Runner) -> None:
    _seed()
    outcome = forcegate("orgs", "migration-status", "--json")
    assert outcome.code == 0, outcome.err
    status = json.loads(outcome.out)
    assert (status["canvas_only"], status["both"], status["jwt_only"], status["no_traffic"]) == (1, 1, 0, 1)
    assert [org["org_id"] for org in status["orgs"]["canvas-only"]] == [A]
    assert status["orgs"]["both"][0]["last_jwt"] is not None
    text = forcegate("orgs", "migration-status", "--days", "7")
    assert text.code == 0
    assert "canvas-only  1" in text.out
    assert f"canvas-only  {A}  last seen" in text.out
