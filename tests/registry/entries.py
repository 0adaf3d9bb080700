"""The registry's two entries today, driven the same way: the ``forcegate`` command and the admin API.

Each :class:`Entry` answers a :class:`Verdict`: whether the registry took the request, and the stable
code of its refusal (``forcegate: <code>: …`` on the CLI's standard error, ``code`` in the admin
API's JSON). A policy test runs once per entry and expects the same verdict from both.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.cli.main import main
from server.live import LiveServer

PREFIX = "/admin/api/v1"
_CLI_CODE = re.compile(r"^forcegate: ([a-z_]+): ", re.MULTILINE)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str | None
    body: Any = None

    @property
    def refused(self) -> str | None:
        """The refusal's code, or None when the request was taken."""
        return None if self.ok else self.code


class Entry(Protocol):
    name: str

    def add_org(self, org_id: str, **fields: Any) -> Verdict: ...
    def update_org(self, org_id: str, **fields: Any) -> Verdict: ...
    def add_app(self, consumer_key: str, secret: str, **fields: Any) -> Verdict: ...
    def rotate_secret(self, consumer_key: str, secret: str) -> Verdict: ...
    def add_certificate(self, org_id: str, certificate: x509.Certificate, *, shared: bool = False) -> Verdict: ...
    def org(self, org_id: str) -> dict[str, Any]: ...


class AdminApiEntry:
    name = "admin-api"

    def __init__(self, server: LiveServer) -> None:
        self.server = server

    def _send(self, method: str, path: str, body: dict[str, Any]) -> Verdict:
        with self.server.admin() as admin:
            response: httpx.Response = admin.request(method, PREFIX + path, json=body)
        payload = response.json()
        assert response.status_code < 500, response.text  # never a server error for bad input
        if response.is_success:
            return Verdict(True, None, payload)
        return Verdict(False, payload["code"], payload)

    def add_org(self, org_id: str, **fields: Any) -> Verdict:
        return self._send("POST", "/orgs", {"org_id": org_id, **fields})

    def update_org(self, org_id: str, **fields: Any) -> Verdict:
        return self._send("PATCH", f"/orgs/{org_id}", fields)

    def add_app(self, consumer_key: str, secret: str, **fields: Any) -> Verdict:
        return self._send("POST", "/apps", {"consumer_key": consumer_key, "secret": secret, **fields})

    def rotate_secret(self, consumer_key: str, secret: str) -> Verdict:
        return self._send("POST", f"/apps/{consumer_key}/secrets", {"secret": secret})

    def add_certificate(self, org_id: str, certificate: x509.Certificate, *, shared: bool = False) -> Verdict:
        pem = certificate.public_bytes(Encoding.PEM).decode()
        return self._send("POST", f"/orgs/{org_id}/certificates", {"certificate": pem, "shared": shared})

    def org(self, org_id: str) -> dict[str, Any]:
        with self.server.admin() as admin:
            found: dict[str, Any] = admin.get(f"{PREFIX}/orgs/{org_id}").json()
        return found


class CliEntry:
    name = "cli"

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        monkeypatch.setenv("FORCEGATE_DATA_DIR", str(tmp_path / "cli-data"))
        # The registry commands never create a store: the operator runs `forcegate init` first.
        created = self.run("init")
        assert created.ok, created.body

    def run(self, *args: str, env: dict[str, str] | None = None) -> Verdict:
        for name, value in (env or {}).items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = self.capsys.readouterr()
        if code == 0:
            return Verdict(True, None, captured.out)
        found = _CLI_CODE.search(captured.err)
        assert code == 1, f"a registry refusal exits 1, not {code}: {captured.err}"
        assert found is not None, captured.err
        return Verdict(False, found.group(1), captured.err)

    def add_org(self, org_id: str, **fields: Any) -> Verdict:
        return self.run("orgs", "add", org_id, *_org_options(fields))

    def update_org(self, org_id: str, **fields: Any) -> Verdict:
        return self.run("orgs", "update", org_id, *_org_options(fields))

    def add_app(self, consumer_key: str, secret: str, **fields: Any) -> Verdict:
        flags = ["--any-org"] if fields.pop("any_org", False) else []
        flags += ["--name", fields.pop("name")] if "name" in fields else []
        assert not fields, fields
        return self.run(
            "apps", "add", consumer_key, "--secret-env", "FG_POLICY_SECRET", *flags, env={"FG_POLICY_SECRET": secret}
        )

    def rotate_secret(self, consumer_key: str, secret: str) -> Verdict:
        return self.run(
            "apps", "rotate-secret", consumer_key, "--secret-env", "FG_POLICY_SECRET", env={"FG_POLICY_SECRET": secret}
        )

    def add_certificate(self, org_id: str, certificate: x509.Certificate, *, shared: bool = False) -> Verdict:
        path = self.tmp_path / "certificate.pem"
        path.write_bytes(certificate.public_bytes(Encoding.PEM))
        return self.run("certs", "add", org_id, str(path), *(["--shared"] if shared else []))

    def org(self, org_id: str) -> dict[str, Any]:
        import json

        shown = self.run("orgs", "show", org_id, "--json")
        assert shown.ok, shown.body
        found: dict[str, Any] = json.loads(shown.body)
        assert found.pop("store").endswith("cli-data (SQLite)")  # which store the command used, not the org's
        return found


_ORG_OPTIONS: dict[str, str] = {
    "name": "--name",
    "issuers": "--issuer",
    "subjects": "--subject",
    "scopes": "--scope",
    "algorithms": "--algorithm",
    "max_assertion_lifetime": "--max-assertion-lifetime",
    "token_lifetime": "--token-lifetime",
}


def _org_options(fields: dict[str, Any]) -> list[str]:
    options: list[str] = []
    for name, value in fields.items():
        option = _ORG_OPTIONS[name]
        for item in value if isinstance(value, list) else [value]:
            options += [option, str(item)]
    return options


EntryFactory = Callable[[], Entry]
