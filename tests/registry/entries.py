"""The registry's entries, driven the same way: the ``forcegate`` command and the admin API (every
registry write), and the ``/enroll`` pages (the certificate a subscriber admin uploads).

Each :class:`Entry` answers a :class:`Verdict`: whether the registry took the request, and the stable
code of its refusal (``forcegate: <code>: …`` on the CLI's standard error, ``code`` in the admin
API's JSON, ``[code]`` on an enrollment page). A policy test runs once per entry and expects the same
verdict from each.
"""

from __future__ import annotations

import asyncio
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
from forcegate.devtools import SalesforceEmulator
from forcegate.registry import Actor, RegistryService
from forcegate.settings import Settings
from forcegate.stores import open_stores
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
    def start_enrollment(self, org_id: str, certificate: x509.Certificate) -> str: ...
    def approve_enrollment(self, enrollment_id: str) -> Verdict: ...
    def reject_enrollment(self, enrollment_id: str, reason: str = "") -> Verdict: ...
    def show_enrollment(self, enrollment_id: str) -> Verdict: ...


def start_enrollment(settings: Settings, org_id: str, certificate: x509.Certificate) -> str:
    """An enrollment waiting for its proof, started in the store ``settings`` name (as the ``/enroll``
    pages start one after the sign-in); its id."""

    async def go() -> str:
        stores = await open_stores(settings)
        try:
            registry = RegistryService(stores, settings=settings)
            started = await registry.enrollments.start(
                org_id=org_id, user_id="0055g00000AbCdEAAV", username="admin@acme.example",
                certificate=certificate, actor=Actor(entry="/enroll/certificate", credential="salesforce-sign-in"),
            )  # fmt: skip
            return started.enrollment.enrollment_id
        finally:
            await stores.close()

    return asyncio.run(go())


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

    def start_enrollment(self, org_id: str, certificate: x509.Certificate) -> str:
        return start_enrollment(self.server.settings, org_id, certificate)

    def approve_enrollment(self, enrollment_id: str) -> Verdict:
        return self._send("POST", f"/enrollments/{enrollment_id}/approve", {})

    def reject_enrollment(self, enrollment_id: str, reason: str = "") -> Verdict:
        return self._send("POST", f"/enrollments/{enrollment_id}/reject", {"reason": reason})

    def show_enrollment(self, enrollment_id: str) -> Verdict:
        with self.server.admin() as admin:
            response = admin.get(f"{PREFIX}/enrollments/{enrollment_id}")
        payload = response.json()
        return Verdict(True, None, payload) if response.is_success else Verdict(False, payload["code"], payload)


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

    def start_enrollment(self, org_id: str, certificate: x509.Certificate) -> str:
        return start_enrollment(Settings(data_dir=self.tmp_path / "cli-data"), org_id, certificate)

    def approve_enrollment(self, enrollment_id: str) -> Verdict:
        return self.run("enrollments", "approve", enrollment_id, "--json")

    def reject_enrollment(self, enrollment_id: str, reason: str = "") -> Verdict:
        return self.run("enrollments", "reject", enrollment_id, "--reason", reason, "--json")

    def show_enrollment(self, enrollment_id: str) -> Verdict:
        return self.run("enrollments", "show", enrollment_id, "--json")


class EnrollPages:
    """The ``/enroll`` pages of a server whose sign-in is the emulator's: an admin of the org signs in
    and uploads a certificate; the verdict is the page's (``[code]`` on a refusal)."""

    name = "enroll-pages"

    def __init__(self, server: LiveServer, emulator: SalesforceEmulator, login: str, username: str) -> None:
        self.server = server
        self.emulator = emulator
        self.login = login
        self.username = username

    def add_certificate(self, certificate: x509.Certificate) -> Verdict:
        with httpx.Client(base_url=self.server.url, timeout=30, follow_redirects=False) as browser:
            started = browser.get("/enroll", params={"login": self.login})
            assert started.status_code == 303, started.text
            # The sign-in cookie, sent back by hand (the jar keeps no cookie of a bare IP address host).
            cookie = {"cookie": started.headers["set-cookie"].split(";", 1)[0]}
            self.emulator.web.sign_in_as(self.username)
            callback = httpx.get(started.headers["location"], timeout=30, follow_redirects=False)
            assert callback.status_code == 302, callback.text
            page = browser.get(callback.headers["location"], headers=cookie)
            found = re.search(r"name='form_token' value='([^']+)'", page.text)
            assert found is not None, page.text
            pem = certificate.public_bytes(Encoding.PEM).decode()
            response = browser.post(
                "/enroll/certificate", data={"certificate": pem, "form_token": found.group(1)}, headers=cookie
            )
        assert response.status_code < 500, response.text
        if response.is_success:
            return Verdict(True, None, response.text)
        code = re.search(r"\[([a-z_]+)\]", response.text)
        assert code is not None, response.text
        return Verdict(False, code.group(1), response.text)


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
