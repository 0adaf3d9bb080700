"""``forcegate enrollments list|show|approve|reject``, ``forcegate orgs import`` and ``forcegate certs expiring``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from forcegate.registry import Actor, OrgInput, RegistryService
from forcegate.registry.enrollment import StartedEnrollment
from forcegate.settings import load_settings
from forcegate.stores import open_stores
from helpers import Runner, self_signed

ORG = "00D5g000004ABCDEA4"
OTHER_ORG = "00D5g000004XYZWEA4"


def start_enrollment(org_id: str = ORG) -> StartedEnrollment:
    async def go() -> StartedEnrollment:
        stores = await open_stores(load_settings())
        try:
            registry = RegistryService(stores, settings=load_settings())
            return await registry.enrollments.start(
                org_id=org_id, user_id="0055g00000AbCdEAAZ", username="admin@acme.example",
                certificate=self_signed(rsa.generate_private_key(65537, 2048), cn="acme"),
                actor=Actor(entry="/enroll/certificate", credential="salesforce-sign-in"),
            )  # fmt: skip
        finally:
            await stores.close()

    return asyncio.run(go())


def test_list_show_and_states(forcegate: Runner, store_line: str) -> None:
    started = start_enrollment()
    eid = started.enrollment.enrollment_id
    listed = forcegate("enrollments", "list")
    assert listed.code == 0
    assert listed.err == store_line
    assert listed.out.startswith(f"{eid}  pending_proof  {ORG}  admin@acme.example  ")
    assert forcegate("enrollments", "list", "--state", "active").out == ""
    as_json = json.loads(forcegate("enrollments", "list", "--json", "--org", ORG[:15]).out)
    assert [e["id"] for e in as_json] == [eid]
    shown = json.loads(forcegate("enrollments", "show", eid, "--json").out)
    assert shown["state"] == "pending_proof"
    assert "store" in shown
    assert started.code not in json.dumps(shown)
    assert started.code.split(".")[1] not in forcegate("enrollments", "show", eid).out


def test_approve_before_the_proof_then_reject_is_refused(forcegate: Runner) -> None:
    eid = start_enrollment().enrollment.enrollment_id
    approved = forcegate("enrollments", "approve", eid)
    assert approved.code == 0
    assert "state: approved" in approved.out
    assert "decided_by: cli (local)" in approved.out
    again = forcegate("enrollments", "approve", eid)
    assert again.code == 1
    assert again.err.startswith("forcegate: enrollment_state_conflict: ")
    rejected = forcegate("enrollments", "reject", eid, "--reason", "not licensed", "--json")
    assert json.loads(rejected.out)["state"] == "rejected"
    assert forcegate("enrollments", "reject", eid).code == 1


def test_unknown_enrollment(forcegate: Runner) -> None:
    for command in ("show", "approve", "reject"):
        outcome = forcegate("enrollments", command, "enr_nope")
        assert outcome.code == 1
        assert outcome.err.splitlines()[-1].startswith("forcegate: not_found: no enrollment")


def test_orgs_import(forcegate: Runner, tmp_path: Path) -> None:
    csv = tmp_path / "licenses.csv"
    csv.write_text(
        "License Id,Organization ID,Status\nA,00D5g000004ABCD,Active\nB,,Trial\nC,00D5g000004XYZWEA4,Active\n"
        "D,00D5g000004ABCDEA4,Active\n",
        encoding="utf-8",
    )
    first = forcegate("orgs", "import", str(csv), "--json")
    assert first.code == 0
    assert json.loads(first.out) == {"read": 2, "added": 2, "empty_cells": 1, "store": json.loads(first.out)["store"]}
    assert forcegate("orgs", "import", str(csv)).out == "2 org id(s) read, 0 new on the approval list\n"
    assert forcegate("orgs", "list").out == ""  # approved, not registered


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("Organization ID\n00D5g000004ABCD\nnot-an-org\n", (), "line 3: 'not-an-org' is not an org id"),
        ("Name,Other\na,b\n", (), "no org-id column found"),
        ("Org\n00D5g000004ABCD\n", ("--column", "Missing"), "no column 'Missing'"),
        ("", (), "the file is empty"),
    ],
)
def test_orgs_import_refuses_the_whole_file(
    forcegate: Runner, tmp_path: Path, content: str, args: tuple[str, ...], message: str
) -> None:
    csv = tmp_path / "orgs.csv"
    csv.write_text(content, encoding="utf-8")
    outcome = forcegate("orgs", "import", str(csv), *args)
    assert outcome.code == 1
    assert message in outcome.err


def test_orgs_import_headerless_and_named_column(forcegate: Runner, tmp_path: Path) -> None:
    bare = tmp_path / "bare.csv"
    bare.write_text("00D5g000004ABCD\r\n00D5g000004XYZW\r\n", encoding="utf-8")
    assert forcegate("orgs", "import", str(bare)).out.startswith("2 org id(s) read, 2 new")
    named = tmp_path / "named.csv"
    named.write_text("\ufeffx,Customer Org\n1,00D300000000001\n", encoding="utf-8")
    assert forcegate("orgs", "import", str(named), "--column", "Customer Org").out.startswith("1 org id(s) read, 1 new")


def test_orgs_import_unreadable_file(forcegate: Runner, tmp_path: Path) -> None:
    outcome = forcegate("orgs", "import", str(tmp_path / "missing.csv"))
    assert outcome.code == 2


def test_certs_expiring(forcegate: Runner) -> None:
    async def register() -> None:
        stores = await open_stores(load_settings())
        try:
            registry = RegistryService(stores, settings=load_settings())
            start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            await registry.add_org(OrgInput(org_id=ORG, algorithms=("ES256",)))
            await registry.add_org(OrgInput(org_id=OTHER_ORG, algorithms=("ES256",)))
            soon = self_signed(ec.generate_private_key(ec.SECP256R1()), cn="soon", start=start, days=13)
            later = self_signed(ec.generate_private_key(ec.SECP256R1()), cn="later", start=start, days=200)
            await registry.add_certificates(ORG, [("soon", soon)])
            await registry.add_certificates(OTHER_ORG, [("later", later)])
        finally:
            await stores.close()

    asyncio.run(register())
    lines = forcegate("certs", "expiring").out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{ORG}  11  ")
    assert lines[0].endswith("  soon")
    wide = json.loads(forcegate("certs", "expiring", "--days", "365", "--json").out)
    assert [(c["org_id"], c["days_left"], c["label"]) for c in wide] == [(ORG, 11, "soon"), (OTHER_ORG, 198, "later")]
