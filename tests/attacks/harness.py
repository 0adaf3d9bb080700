"""Where the attacks land: the protocol core (:class:`Library`) and a live server over HTTP (:class:`Target`).

Both check the same two things of every refusal: the code of the check that refused it, and that it
left nothing behind. In the core: no single-use claim in the replay store. Over HTTP, the server's own
database before and after: no issued token, no replay claim, no session, no spent rate budget, no
revocation, and exactly one audit row (the refusal, with its code). Outbound connections are watched
for every test by the ``no_outbound`` fixture (conftest.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from attacks.forge import Forge
from core.assertion_support import FakeDirectory, MemoryReplay
from forcegate.core.assertion import AssertionVerifier, VerifiedAssertion
from forcegate.errors import ForcegateError
from server.live import JWT_BEARER_GRANT, LiveServer

# --- the core --------------------------------------------------------------------------------------


@dataclass
class Library:
    forge: Forge
    verifier: AssertionVerifier
    directory: FakeDirectory

    def verify(self, token: str, replay: MemoryReplay) -> VerifiedAssertion:
        return asyncio.run(self.verifier.verify(token, replay=replay, source="jwt-bearer"))

    def refuse(self, token: str, code: str) -> ForcegateError:
        """``token`` is refused with ``code``, and its single use was not claimed."""
        replay = MemoryReplay()
        with pytest.raises(ForcegateError) as caught:
            self.verify(token, replay)
        assert caught.value.code == code, caught.value.reason
        assert replay.claimed == {}
        return caught.value


# --- the live server -------------------------------------------------------------------------------

#: The HTTP entries that take an Apex assertion: the token endpoint (RFC 7523) and the API, where an
#: assertion may be the bearer credential itself (held to the same rules, single use included).
ENTRIES = ("token", "api")

#: Refusals of the request's own shape (RequestError): these say why, with their code, to anyone.
REQUEST_CODES = frozenset({"invalid_request", "invalid_scope", "unsupported_grant_type"})

#: The tables a refusal must leave as they were (the audit log is checked row by row): the request
#: state, and the registry (a kid or an org id is never a way to write it). Besides the row counts:
#: the orgs' spent rate budget (a refused assertion spends none) and the registry's generation.
_COUNTED = (
    "issued_tokens",
    "replay",
    "sessions",
    "revoked_tokens",
    "apps",
    "app_secrets",
    "orgs",
    "org_apps",
    "certificates",
    "signing_keys",
)
_QUERIES = {
    **{table: f"SELECT count(*) FROM {table}" for table in _COUNTED},  # noqa: S608 - names are constants
    "rate budget spent": "SELECT coalesce(sum(hits), 0) FROM rate_counters",
    "registry generation": "SELECT generation FROM trust_generation",
    "audit_id": "SELECT coalesce(max(id), 0) FROM audit_events",
}
#: One statement, so the numbers are of one moment.
_STATE = "SELECT " + ", ".join(f"({sql})" for sql in _QUERIES.values())


@dataclass(frozen=True)
class State:
    """Row counts of the server's database, and the newest audit row's id."""

    rows: dict[str, int]
    audit_id: int


@dataclass(frozen=True)
class Refusal:
    response: httpx.Response
    #: The audit rows the request wrote: (code, result, verified).
    audit: list[tuple[str, str, bool]]


@dataclass
class Target:
    server: LiveServer
    forge_template: Forge
    database: Path
    #: Kept open for the module (a new client builds a TLS context: tens of milliseconds each).
    anonymous: httpx.Client = field(init=False, repr=False)
    admin: httpx.Client = field(init=False, repr=False)
    #: Read-only; in autocommit mode each statement sees the latest commit (WAL).
    db: sqlite3.Connection = field(init=False, repr=False)
    #: Whether the server may hold queued audit events: the API audits in batches, the token
    #: endpoint and Canvas write theirs before they answer.
    queued: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.anonymous = self.server.client()
        self.admin = self.server.admin()
        self.db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, isolation_level=None)

    def close(self) -> None:
        self.anonymous.close()
        self.admin.close()
        self.db.close()

    @property
    def forge(self) -> Forge:
        """The workbench at the server's current time and audience."""
        return replace(self.forge_template, now=int(self.server.clock.now()), audience=self.server.token_endpoint)

    # -- requests (never with a cookie: the client forgets any it is given)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.anonymous.request(method, path, **kwargs)
        finally:
            self.anonymous.cookies.clear()

    def token(self, assertion: str, **form: str) -> httpx.Response:
        return self._send(
            "POST", "/oauth2/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion, **form}
        )

    def me(self, bearer: str) -> httpx.Response:
        self.queued = True
        return self._send("GET", "/api/v1/me", headers={"authorization": f"Bearer {bearer}"})

    def canvas(self, signed_request: str, path: str = "/canvas") -> httpx.Response:
        return self._send("POST", path, data={"signed_request": signed_request})

    # -- what the server holds

    def flush(self) -> None:
        """Have the server write the audit events it queued (the admin listing flushes them first)."""
        assert self.admin.get("/admin/api/v1/audit", params={"limit": 1}).status_code == 200
        self.queued = False

    def state(self) -> State:
        if self.queued:
            self.flush()
        values = dict(zip(_QUERIES, self.db.execute(_STATE).fetchone(), strict=True))
        audit_id = int(values.pop("audit_id"))
        return State({name: int(value) for name, value in values.items()}, audit_id)

    def audit_since(self, audit_id: int) -> list[tuple[str, str, bool]]:
        rows = self.db.execute(
            "SELECT code, result, verified FROM audit_events WHERE id > ? ORDER BY id", (audit_id,)
        ).fetchall()
        return [(str(code), str(result), bool(verified)) for code, result, verified in rows]

    # -- the checks

    def refused(self, send: Callable[[], httpx.Response], *, status: int, code: str) -> Refusal:
        """``send()`` is answered ``status``, leaves every counted table as it was, and writes one
        audit row: the refusal, with ``code``."""
        before = self.state()
        response = send()
        after = self.state()
        assert response.status_code == status, response.text
        assert "set-cookie" not in response.headers
        assert response.headers.get("cache-control") == "no-store"
        assert after.rows == before.rows
        audit = self.audit_since(before.audit_id)
        assert [(c, r) for c, r, _ in audit] == [(code, "denied")]
        return Refusal(response, audit)

    def refused_at_token_endpoint(self, assertion: str, code: str, **form: str) -> Refusal:
        """RFC 6749 §5.2: 400; a grant refusal says only ``invalid_grant`` to an unauthenticated caller."""
        refusal = self.refused(lambda: self.token(assertion, **form), status=400, code=code)
        body: dict[str, Any] = refusal.response.json()
        assert refusal.response.headers["content-type"].startswith("application/json")
        if code in REQUEST_CODES:
            _assert_disclosed(body, error=code, code=code)
        else:
            assert body == {"error": "invalid_grant"}  # decision 0005: the code is in the audit log only
        return refusal

    def refused_at_api(self, bearer: str, code: str) -> Refusal:
        """RFC 6750 §3.1: 401 ``invalid_token`` with a challenge naming it; 400 for the request's own shape."""
        if code in REQUEST_CODES:
            refusal = self.refused(lambda: self.me(bearer), status=400, code=code)
            error = "invalid_request"
            _assert_disclosed(refusal.response.json(), error=error, code=code)
        else:
            refusal = self.refused(lambda: self.me(bearer), status=401, code=code)
            assert refusal.response.json() == {"error": "invalid_token"}  # decision 0005
            error = "invalid_token"
        assert refusal.response.headers["www-authenticate"] == f'Bearer realm="forcegate", error="{error}"'
        return refusal

    def refused_at_canvas(self, signed_request: str, code: str, *, status: int, path: str = "/canvas") -> Refusal:
        """An HTML page for the browser in Salesforce's iframe; no session cookie."""
        refusal = self.refused(lambda: self.canvas(signed_request, path), status=status, code=code)
        assert refusal.response.headers["content-type"].startswith("text/html")
        return refusal

    def refused_assertion(self, assertion: str, code: str, entry: str) -> Refusal:
        """Refused at ``entry`` (one of :data:`ENTRIES`)."""
        if entry == "token":
            return self.refused_at_token_endpoint(assertion, code)
        return self.refused_at_api(assertion, code)


def _assert_disclosed(body: dict[str, Any], *, error: str, code: str) -> None:
    """The full RFC 6749 §5.2 shape: ``error``, ``error_description`` (a sentence) and ``code``."""
    assert sorted(body) == ["code", "error", "error_description"], body
    assert (body["error"], body["code"]) == (error, code)
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
