from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.core.ids import to18
from forcegate.keys import self_signed_certificate
from forcegate.registry import service as registry_service
from forcegate.settings import load_settings
from forcegate.stores import Org, Stores, open_stores
from helpers import Runner

ORG15 = "00D5g000004SXyz"
ORG18 = "00D5g000004SXyzEAG"
OTHER15 = "00D000000000001"
OTHER18 = "00D000000000001EAA"


def show(forcegate: Runner, org: str) -> dict[str, object]:
    outcome = forcegate("orgs", "show", org, "--json")
    assert outcome.code == 0, outcome.err
    view = json.loads(outcome.out)
    assert isinstance(view, dict)
    return view


def test_add_prints_the_18_character_id(forcegate: Runner) -> None:
    outcome = forcegate("orgs", "add", ORG15, "--name", "Acme")
    assert outcome.code == 0, outcome.err
    assert outcome.out == ORG18 + "\n"
    assert show(forcegate, ORG18)["name"] == "Acme"
    assert show(forcegate, ORG15)["org_id"] == ORG18  # either form finds it
    assert show(forcegate, ORG18.lower())["org_id"] == ORG18  # a case-folded 18-character id too


@pytest.mark.parametrize(
    ("org", "reason"),
    [
        ("00D5g000004SXy", "15 or 18 characters, not 14"),
        ("00D5g000004SX-z", "only the characters 0-9, A-Z and a-z"),
        ("00D5g000004SXyzAAA", "checksum suffix"),
        ("0055g000004SXyz", "key prefix '00D'"),
    ],
)
def test_add_refuses_a_bad_org_id(forcegate: Runner, org: str, reason: str) -> None:
    outcome = forcegate("orgs", "add", org)
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: invalid_salesforce_id: ")
    assert reason in outcome.err
    assert forcegate("orgs", "list").out == ""


def test_lookup_with_a_bad_org_id(forcegate: Runner) -> None:
    outcome = forcegate("orgs", "show", "not-an-id")
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: invalid_salesforce_id: ")


def test_duplicate_org_in_either_form(forcegate: Runner) -> None:
    assert forcegate("orgs", "add", ORG15).code == 0
    again = forcegate("orgs", "add", ORG18)
    assert again.code == 1
    assert again.err.startswith("forcegate: already_exists: ")


def test_add_with_every_option_then_show_json_is_complete(
    forcegate: Runner, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    outcome = forcegate(
        "orgs", "add", ORG15,
        "--name", "Acme Production",
        "--issuer", ORG18, "--issuer", "3MVG9_consumer.key", "--issuer", ORG18,
        "--scope", "api", "--scope", "refresh_token",
        "--subject", "admin@acme.example", "--subject", "005000000000001AAA",
        "--disabled",
        "--algorithm", "RS256", "--algorithm", "RS512",
        "--max-assertion-lifetime", "120",
        "--token-lifetime", "900",
    )  # fmt: skip
    assert outcome.code == 0, outcome.err
    certificate = self_signed_certificate(rsa_key, cn="acme_signing", days=90)
    pem = tmp_path / "acme.crt"
    pem.write_bytes(certificate.public_bytes(Encoding.PEM))
    assert forcegate("orgs", "show", ORG18).code == 0
    assert forcegate("certs", "add", ORG18, str(pem), "--label", "2025 signing").code == 0
    view = show(forcegate, ORG15)
    assert set(view) == {
        "org_id", "name", "enabled", "issuers", "subjects", "scopes", "algorithms", "apps", "max_assertion_lifetime",
        "token_lifetime", "created_at", "updated_at", "certificates", "store",
    }  # fmt: skip
    assert view["algorithms"] == ["RS256", "RS512"]
    assert view["org_id"] == ORG18
    assert view["name"] == "Acme Production"
    assert view["enabled"] is False
    assert view["issuers"] == sorted([ORG18, "3MVG9_consumer.key"])
    assert view["subjects"] == ["admin@acme.example", "005000000000001AAA"]
    assert view["scopes"] == ["api", "refresh_token"]
    assert view["max_assertion_lifetime"] == 120
    assert view["token_lifetime"] == 900
    assert str(view["created_at"]).endswith("Z")
    certificates = view["certificates"]
    assert isinstance(certificates, list)
    [listed] = certificates
    assert listed["label"] == "2025 signing"
    assert listed["state"] == "active"
    assert listed["shared"] is False
    assert listed["not_after"] == certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(listed["sha256_fingerprint"]) == 64


def test_defaults(forcegate: Runner) -> None:
    assert forcegate("orgs", "add", ORG15).code == 0
    view = show(forcegate, ORG18)
    assert view["enabled"] is True
    assert view["issuers"] == [ORG18]  # the org id itself
    assert view["subjects"] is None  # any subject
    assert view["scopes"] == []
    assert view["max_assertion_lifetime"] is None
    assert view["token_lifetime"] is None
    assert view["certificates"] == []
    human = forcegate("orgs", "show", ORG18).out
    assert "subjects: (any)" in human
    assert "token_lifetime: (service default)" in human
    assert "certificates: 0" in human


@pytest.mark.parametrize(
    ("options", "code"),
    [
        (["--scope", "two words"], 1),  # read, then refused by the registry (as the admin API would)
        (["--scope", 'quote"d'], 1),
        (["--issuer", ""], 1),
        (["--subject", " padded"], 1),
        (["--token-lifetime", "0"], 1),
        (["--algorithm", "HS256"], 1),
        (["--algorithm", "none"], 1),
        (["--max-assertion-lifetime", "abc"], 2),  # not even a number: a usage error
    ],
)
def test_add_refusals(forcegate: Runner, options: list[str], code: int) -> None:
    outcome = forcegate("orgs", "add", ORG15, *options)
    assert outcome.code == code, outcome.err
    if code == 1:
        assert outcome.err.count("\n") == 1  # one `forcegate: <code>: <reason>` line
    assert forcegate("orgs", "list").out == ""


def test_show_unknown_org(forcegate: Runner) -> None:
    outcome = forcegate("orgs", "show", ORG15)
    assert outcome.code == 1
    assert outcome.err == f"forcegate: not_found: no org {ORG18} in the registry\n"


def test_list_human_and_json_in_id_order(forcegate: Runner) -> None:
    assert forcegate("orgs", "add", ORG15, "--name", "Acme").code == 0
    assert forcegate("orgs", "add", OTHER15, "--disabled").code == 0
    assert forcegate("orgs", "list").out.splitlines() == [f"{OTHER18}  disabled  -", f"{ORG18}  enabled  Acme"]
    listed = json.loads(forcegate("orgs", "list", "--json").out)
    assert [org["org_id"] for org in listed] == [OTHER18, ORG18]
    assert "certificates" not in listed[0]


def test_list_pages_through_every_org(forcegate: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_service, "_PAGE", 2)
    ids = sorted(to18(f"00D00000000000{i}") for i in range(5))
    for org in ids:
        assert forcegate("orgs", "add", org).code == 0
    assert [line.split()[0] for line in forcegate("orgs", "list").out.splitlines()] == ids


def test_enable_and_disable(forcegate: Runner) -> None:
    assert forcegate("orgs", "add", ORG15).code == 0
    disabled = forcegate("orgs", "disable", ORG15)
    assert (disabled.code, disabled.out) == (0, f"org {ORG18} disabled\n")
    assert show(forcegate, ORG18)["enabled"] is False
    assert forcegate("orgs", "enable", ORG18).out == f"org {ORG18} enabled\n"
    assert show(forcegate, ORG18)["enabled"] is True
    assert forcegate("orgs", "enable", OTHER15).code == 1


def test_update_replaces_only_the_given_fields(forcegate: Runner) -> None:
    assert forcegate("orgs", "add", ORG15, "--name", "Acme", "--scope", "api", "--token-lifetime", "900").code == 0
    outcome = forcegate("orgs", "update", ORG15, "--issuer", "3MVG9_x", "--subject", "a@acme.example")
    assert (outcome.code, outcome.out) == (0, f"org {ORG18} updated\n")
    view = show(forcegate, ORG18)
    assert view["issuers"] == ["3MVG9_x"]
    assert view["subjects"] == ["a@acme.example"]
    assert (view["name"], view["scopes"], view["token_lifetime"]) == ("Acme", ["api"], 900)

    outcome = forcegate("orgs", "update", ORG18, "--name", "Acme Inc", "--max-assertion-lifetime", "60")
    assert outcome.code == 0, outcome.err
    view = show(forcegate, ORG18)
    assert (view["name"], view["max_assertion_lifetime"], view["token_lifetime"]) == ("Acme Inc", 60, 900)

    outcome = forcegate(
        "orgs", "update", ORG18, "--no-issuers", "--no-scopes", "--any-subject", "--token-lifetime", "default"
    )
    assert outcome.code == 0, outcome.err
    view = show(forcegate, ORG18)
    assert view["issuers"] == [ORG18]
    assert view["scopes"] == []
    assert view["subjects"] is None
    assert (view["max_assertion_lifetime"], view["token_lifetime"]) == (60, None)


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--subject", "a", "--any-subject"],
        ["--issuer", "x", "--no-issuers"],
        ["--scope", "api", "--no-scopes"],
        ["--token-lifetime", "forever"],
    ],
)
def test_update_usage_errors(forcegate: Runner, options: list[str]) -> None:
    assert forcegate("orgs", "add", ORG15).code == 0
    outcome = forcegate("orgs", "update", ORG15, *options)
    assert outcome.code == 2
    assert outcome.out == ""


def test_update_unknown_org(forcegate: Runner) -> None:
    outcome = forcegate("orgs", "update", ORG15, "--name", "x")
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: not_found: ")


def test_remove(forcegate: Runner) -> None:
    assert forcegate("orgs", "add", ORG15).code == 0
    removed = forcegate("orgs", "remove", ORG15)
    assert (removed.code, removed.out) == (0, f"org {ORG18} removed\n")
    assert forcegate("orgs", "show", ORG18).code == 1
    again = forcegate("orgs", "remove", ORG18)
    assert again.code == 1
    assert again.err.startswith("forcegate: not_found: ")
    assert forcegate("orgs", "add", ORG18).code == 0  # the id is free again


def test_control_and_bidi_characters_in_names_are_refused(forcegate: Runner) -> None:
    for name in ("Acme\x1b[2J", "evil\u202egnp.exe"):
        refused = forcegate("orgs", "add", ORG15, "--name", name)
        assert refused.code == 1
        assert refused.err.startswith("forcegate: invalid_input: name contains the control or bidirectional character")
    assert forcegate("orgs", "list").out == ""


def test_control_characters_already_stored_are_escaped(forcegate: Runner) -> None:
    """A name written before the rule (or straight into the store) still cannot rewrite the terminal."""

    async def write(stores: Stores) -> None:
        await stores.trust.add_org(Org(org_id=ORG18, name="Acme\x1b[2J"))

    loop = asyncio.new_event_loop()
    try:
        stores = loop.run_until_complete(open_stores(load_settings()))
        try:
            loop.run_until_complete(write(stores))
        finally:
            loop.run_until_complete(stores.close())
    finally:
        loop.close()
    assert forcegate("orgs", "list").out == f"{ORG18}  enabled  Acme\\x1b[2J\n"
    assert show(forcegate, ORG18)["name"] == "Acme\x1b[2J"  # JSON keeps the value as it is


def test_a_process_holding_the_stores_open_sees_the_writes(forcegate: Runner) -> None:
    # Like a running server: its own connection, open across the CLI commands.
    loop = asyncio.new_event_loop()
    try:
        stores = loop.run_until_complete(open_stores(load_settings()))
        try:
            before = loop.run_until_complete(stores.trust.generation())
            assert forcegate("orgs", "add", ORG15, "--scope", "api").code == 0
            assert loop.run_until_complete(stores.trust.generation()) > before
            seen = loop.run_until_complete(stores.trust.get_org(ORG18))
            assert seen is not None
            assert seen.scopes == ("api",)
            loop.run_until_complete(stores.trust.update_org(ORG18, name="renamed by the server"))
            assert show(forcegate, ORG18)["name"] == "renamed by the server"
            assert forcegate("orgs", "disable", ORG18).code == 0
            seen = loop.run_until_complete(stores.trust.get_org(ORG18))
            assert seen is not None
            assert not seen.enabled
        finally:
            loop.run_until_complete(stores.close())
    finally:
        loop.close()


def test_absurd_lifetimes_are_refused_not_crashed(forcegate: Runner) -> None:
    outcome = forcegate("orgs", "add", "00D5g000004ABCDEA4", "--token-lifetime", str(2**63))
    assert outcome.code in (1, 2)
    assert "token_lifetime" in outcome.err or "token-lifetime" in outcome.err
    assert "Traceback" not in outcome.err
