"""The console's security properties, over httpx against the ASGI application (HTTPS base URL).

Headers, cookie flags, CSRF refusals, sign-in failures slowing down and locking (per name and per
address, shared through the database), session expiry and sign-out, the audit trail with the
operator's name, and a debugger that stores, logs and spends nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.server.console import web
from forcegate.service.console_sign_in import SESSION_LIFETIME, SignInLimits
from server.console.support import PASSWORD, console_app, csrf_of, run, sign_in
from server.live import ORG_ID, make_org

COOKIE = "__Host-forcegate_console"


@pytest.fixture(autouse=True)
def no_slow_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The slow-down's waits are asserted where they matter; elsewhere they would only slow the suite."""
    monkeypatch.setattr(web, "LIMITS", SignInLimits(first_delay=0.0, max_delay=0.0))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(float(int(time.time())))


def _audit_rows(data_dir: Path, code: str) -> list[tuple[str, str, str, str | None]]:
    with sqlite3.connect(data_dir / "forcegate.db") as conn:
        return conn.execute(
            "SELECT credential, result, detail, subject FROM audit_events WHERE code = ? ORDER BY id", (code,)
        ).fetchall()


def test_every_page_carries_the_security_headers(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            pages = [
                await console.client.get(path) for path in ("/", "/console/sign-in", "/console/static/console.css")
            ]
            assert (await sign_in(console.client)).status_code == 303
            pages += [await console.client.get(path) for path in ("/console", "/console/orgs", "/console/debugger")]
            for response in pages:
                headers = response.headers
                policy = headers["content-security-policy"]
                assert "script-src" not in policy
                assert "unsafe-inline" not in policy
                assert "default-src 'none'" in policy
                assert "frame-ancestors 'none'" in policy
                assert "style-src 'self'" in policy
                assert "form-action 'self'" in policy
                assert headers["x-content-type-options"] == "nosniff"
                assert headers["referrer-policy"] == "no-referrer"
                assert headers["strict-transport-security"] == "max-age=31536000"
            assert all(
                r.headers["cache-control"] == "no-store" for r in pages if r.url.path != "/console/static/console.css"
            )

    run(scenario)


def test_no_hsts_without_tls(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock, public_url="http://127.0.0.1:8000") as console:
            response = await console.client.get("/console/sign-in")
            assert "strict-transport-security" not in response.headers
            # Secure follows settings.secure_cookies (on outside development mode, even over http).
            assert "Secure" in response.headers["set-cookie"]

    run(scenario)


def test_the_session_cookie_is_httponly_secure_strict_and_holds_only_a_random_id(
    tmp_path: Path, clock: FixedClock
) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            response = await sign_in(console.client)
            assert response.status_code == 303
            assert response.headers["location"] == "/console"
            [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE + "=")]
            attributes = [part.strip() for part in cookie.split(";")]
            assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} <= set(attributes)
            assert f"Max-Age={SESSION_LIFETIME}" in attributes
            session_id = attributes[0].split("=", 1)[1]
            assert len(session_id) >= 43
            with sqlite3.connect(tmp_path / "forcegate.db") as conn:
                stored = [row[0] for row in conn.execute("SELECT id_hash FROM console_sessions")]
            assert stored == [hashlib.sha256(session_id.encode()).hexdigest()]  # the digest, never the id

    run(scenario)


def test_development_over_http_drops_secure_and_the_host_prefix(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock, public_url="http://localhost:8000", development=True) as console:
            await console.add_operator()
            response = await sign_in(console.client)
            cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("forcegate_console="))
            assert "Secure" not in cookie
            assert "SameSite=Strict" in cookie
            assert "HttpOnly" in cookie

    run(scenario)


def test_a_form_without_the_session_csrf_token_is_refused(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            await sign_in(console.client)
            for token in (None, "", "0" * 64):
                data = {"org_id": ORG_ID, "name": "Forged"} | ({} if token is None else {"csrf": token})
                refused = await console.client.post("/console/orgs", data=data)
                assert refused.status_code == 403
                assert "csrf_refused" in refused.text
            # Another session's token does not fit this session.
            async with console.new_client() as other:
                await sign_in(other)
                foreign = csrf_of((await other.get("/console/orgs")).text)
            refused = await console.client.post("/console/orgs", data={"org_id": ORG_ID, "csrf": foreign})
            assert refused.status_code == 403
            assert (await console.client.get(f"/console/orgs/{ORG_ID}")).status_code == 404  # nothing was added
            # The page's own token works.
            token = csrf_of((await console.client.get("/console/orgs")).text)
            added = await console.client.post("/console/orgs", data={"org_id": ORG_ID, "csrf": token})
            assert added.status_code == 303

    run(scenario)


def test_a_post_without_a_session_is_refused_not_redirected(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            refused = await console.client.post("/console/orgs", data={"org_id": ORG_ID, "csrf": "x"})
            assert refused.status_code == 403
            assert (await console.client.get("/console/orgs")).headers["location"] == "/console/sign-in"

    run(scenario)


def test_the_sign_in_form_is_bound_to_its_pre_session_cookie(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            form = {"method": "password", "name": "alice", "password": PASSWORD}
            # A login-CSRF: another site posts valid credentials without the page's token.
            refused = await console.client.post("/console/sign-in", data=form | {"csrf": "0" * 64})
            assert refused.status_code == 403
            assert not any(c.startswith(COOKIE) for c in refused.headers.get_list("set-cookie"))

    run(scenario)


def test_wrong_passwords_slow_down_then_lock_the_name(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(web, "LIMITS", SignInLimits())
    monkeypatch.setattr(web, "SLEEP", record)  # the waits, recorded rather than slept

    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            statuses = [(await sign_in(console.client, password="wrong password!")).status_code for _ in range(5)]
            assert statuses == [401] * 5
            assert waits == [0.25, 0.5, 1.0]  # from the third failure, doubling
            locked = await sign_in(console.client)  # the right password, refused unchecked
            assert locked.status_code == 429
            assert "locked" in locked.text
            assert int(locked.headers["retry-after"]) == 900
            # Another worker (a new application on the same database) sees the lock.
            async with console_app(tmp_path, clock) as other:
                assert (await sign_in(other.client)).status_code == 429
            clock.advance(901)
            assert (await sign_in(console.client)).status_code == 303
        refused = _audit_rows(tmp_path, "authentication_required")
        assert len(refused) == 5
        assert all(row[:2] == ("operator:alice", "denied") for row in refused)
        assert _audit_rows(tmp_path, "rate_limited")[0][1] == "denied"

    run(scenario)


def test_an_address_guessing_many_names_is_locked(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "LIMITS", SignInLimits(first_delay=0.0, max_delay=0.0, lock_address_after=6))

    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            for n in range(6):
                assert (await sign_in(console.client, name=f"guess{n}", password="whatever it is")).status_code == 401
            # The address is locked now: even a good name and password from it wait.
            assert (await sign_in(console.client)).status_code == 429

    run(scenario)


def test_an_unknown_name_and_a_wrong_password_look_the_same(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            unknown = await sign_in(console.client, name="nobody", password=PASSWORD)
            wrong = await sign_in(console.client, password="not the password")
            assert unknown.status_code == wrong.status_code == 401
            message = re.compile(r'<p class="alert" role="alert">(.*?)</p>')
            assert message.findall(unknown.text) == message.findall(wrong.text)

    run(scenario)


def test_the_admin_token_signs_in_and_a_wrong_one_does_not(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            page = await console.client.get("/console/sign-in")
            form = {"csrf": csrf_of(page.text), "method": "token"}
            assert (await console.client.post("/console/sign-in", data=form | {"token": "wrong"})).status_code == 401
            signed_in = await console.client.post("/console/sign-in", data=form | {"token": console.admin_token})
            assert signed_in.status_code == 303
            overview = await console.client.get("/console")
            assert overview.status_code == 200
            assert "admin-token" in overview.text
        rows = _audit_rows(tmp_path, "console_sign_in")
        assert rows == [
            ("operator:admin-token", "allowed", "admin-token signed in to the console (admin-token)", "admin-token")
        ]

    run(scenario)


def test_sessions_expire_and_sign_out_ends_them(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            await sign_in(console.client)
            assert (await console.client.get("/console")).status_code == 200
            clock.advance(SESSION_LIFETIME + 1)
            expired = await console.client.get("/console")
            assert expired.status_code == 303
            assert expired.headers["location"] == "/console/sign-in"
            await sign_in(console.client)
            cookie = console.client.cookies[COOKIE]
            token = csrf_of((await console.client.get("/console")).text)
            out = await console.client.post("/console/sign-out", data={"csrf": token})
            assert out.status_code == 303
            assert "Max-Age=0" in out.headers["set-cookie"]
            # The old cookie, replayed, opens nothing: the database forgot the session.
            async with console.new_client() as replay:
                replay.cookies.set(COOKIE, cookie, domain="console.test")
                assert (await replay.get("/console")).status_code == 303

    run(scenario)


def test_changes_are_audited_with_the_operators_name(
    tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    org = make_org(ORG_ID, rsa_key, clock)

    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            await sign_in(console.client)
            token = csrf_of((await console.client.get("/console/orgs")).text)
            await console.client.post("/console/orgs", data={"org_id": ORG_ID, "name": "Acme", "csrf": token})
            files = {"file": ("org.crt", org.certificate_pem.encode(), "application/x-x509-ca-cert")}
            added = await console.client.post(f"/console/orgs/{ORG_ID}/certificates", data={"csrf": token}, files=files)
            assert added.status_code == 303, added.text
            await console.client.post(f"/console/orgs/{ORG_ID}/enabled", data={"csrf": token, "enabled": "false"})
            refused = await console.client.post("/console/orgs", data={"org_id": ORG_ID, "csrf": token})
            assert refused.status_code == 409
        for code in ("console_sign_in", "org_added", "certificate_added", "org_disabled"):
            [(credential, result, _detail, _subject)] = _audit_rows(tmp_path, code)
            assert (credential, result) == ("operator:alice", "allowed"), code
        [denied] = _audit_rows(tmp_path, "already_exists")
        assert denied[:2] == ("operator:alice", "denied")

    run(scenario)


def test_the_debugger_stores_logs_and_spends_nothing(
    tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    org = make_org(ORG_ID, rsa_key, clock)

    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            admin = console.admin_headers()
            await console.client.post("/admin/api/v1/orgs", json={"org_id": ORG_ID}, headers=admin)
            await console.client.post(
                f"/admin/api/v1/orgs/{ORG_ID}/certificates", json={"certificate": org.certificate_pem}, headers=admin
            )
            await console.add_operator()
            await sign_in(console.client)
            assertion = org.assertion(console.settings.token_endpoint)
            tampered = assertion[:-6] + ("AAAAAA" if not assertion.endswith("AAAAAA") else "BBBBBB")
            before = _database_bytes(tmp_path)
            token = csrf_of((await console.client.get("/console/debugger")).text)
            with caplog.at_level(logging.DEBUG):
                accepted = await console.client.post("/console/debugger", data={"csrf": token, "credential": assertion})
                refused = await console.client.post("/console/debugger", data={"csrf": token, "credential": tampered})
            assert accepted.status_code == 200
            assert "passes every check" in accepted.text
            assert "Failed check: signature" in refused.text
            assert "invalid_signature" in refused.text
            assert assertion not in accepted.text  # the page shows what it decoded, not the credential
            # Nothing pasted reached the logs or the database (no audit row, no replay claim, no counter).
            assert not any(assertion[-40:] in record.getMessage() for record in caplog.records)
            assert not any(tampered[-40:] in record.getMessage() for record in caplog.records)
            assert _database_bytes(tmp_path) == before
            # The assertion checked above is still good for a token: it was not spent.
            exchanged = await console.client.post(
                "/oauth2/token",
                data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            )
            assert exchanged.status_code == 200, exchanged.text

    run(scenario)


def _database_bytes(data_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row the debugger could have written: audit events, replay claims, rate and failure counters."""
    with sqlite3.connect(data_dir / "forcegate.db") as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - fixed table names
            for table in ("audit_events", "replay", "rate_counters", "console_sign_in_failures", "issued_tokens")
        }


JUNK = ["\x00", "%", "' OR 1=1 --", "é" * 300, "\u202e", "-1", "99999999999999999999", "0001-01-01", "00D"]


def test_junk_in_any_query_or_path_is_a_clear_refusal_never_a_server_error(tmp_path: Path, clock: FixedClock) -> None:
    async def scenario() -> None:
        async with console_app(tmp_path, clock) as console:
            await console.add_operator()
            await sign_in(console.client)
            for value in JUNK:
                for path, name in [
                    ("/console/orgs", "q"),
                    ("/console/orgs", "state"),
                    ("/console/orgs", "after"),
                    ("/console/enrollments", "state"),
                    *[("/console/audit", key) for key in ("org", "result", "credential", "code", "since", "until")],
                    ("/console/audit", "before"),
                ]:
                    response = await console.client.get(path, params={name: value})
                    assert response.status_code in (200, 400), (path, name, value, response.status_code)
                    assert response.headers["content-type"].startswith("text/html")
            token = csrf_of((await console.client.get("/console/orgs")).text)
            for value in ("x", "00D5g000004ABCDEA4", "%00", "a" * 300):
                for path in (
                    f"/console/orgs/{value}",
                    f"/console/apps/{value}/secret",
                    f"/console/enrollments/{value}/approve",
                    f"/console/orgs/{ORG_ID}/certificates/{value}/state",
                ):
                    if path.count("/") == 3:
                        response = await console.client.get(path)
                    else:
                        response = await console.client.post(path, data={"csrf": token, "state": "retired"})
                    assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:300])

    run(scenario)
