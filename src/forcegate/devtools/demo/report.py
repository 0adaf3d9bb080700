"""How the demo prints: numbered headings, requests, responses and identities, tokens abbreviated.

Anything that looks like a credential (a JWT, a session id, a secret) is cut to its first 16
characters and "…", so the output can be pasted into an issue without handing anyone a token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

__all__ = ["Reporter", "abbreviate", "redact"]

KEEP = 16
# Values under these names are credentials wherever they appear in a body or form.
_SECRET_NAMES = frozenset(
    {"access_token", "assertion", "signed_request", "secret", "oauthToken", "refresh_token", "token", "admin_token"}
)
_JWT = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$")
_PEM = "-----BEGIN CERTIFICATE-----"
_SHOWN_HEADERS = ("location", "set-cookie", "www-authenticate", "content-type", "cache-control")
IDENTITY_FIELDS = ("source", "org_id", "user_id", "username", "instance_url", "record_id", "parameters", "scopes")


def abbreviate(value: str, *, keep: int = KEEP) -> str:
    """``value`` cut to ``keep`` characters and "…", or as it is when already that short."""
    return value if len(value) <= keep else value[:keep] + "…"


def _field(name: str, value: Any) -> Any:
    if isinstance(value, str) and name in _SECRET_NAMES:
        return abbreviate(value)
    if isinstance(value, str) and name == "certificate" and value.startswith(_PEM):
        # Public, but 1.5 KB of base64 tells a reader nothing.
        return f"{_PEM} … ({len(value)} characters of PEM)"
    return redact(value)


def redact(value: Any) -> Any:
    """A copy of a JSON value with every credential abbreviated (by field name, or by JWT shape)."""
    if isinstance(value, Mapping):
        return {key: _field(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str) and _JWT.match(value):
        return abbreviate(value)
    return value


def _cookie(header: str) -> str:
    name, _, rest = header.partition("=")
    session_id, _, attributes = rest.partition(";")
    return f"{name}={abbreviate(session_id)};{attributes}" if attributes else f"{name}={abbreviate(session_id)}"


class Reporter:
    """Writes the demo's story through ``echo`` (``click.echo`` in the command, a list in tests)."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo = echo
        self.step = 0  # the number of the last heading: failures name the step they happened in

    def line(self, text: str = "") -> None:
        self._echo(text)

    def heading(self, number: int, title: str) -> None:
        self.step = number
        self._echo("")
        self._echo(f"== {number}. {title} ==")

    def note(self, text: str) -> None:
        self._echo(f"   {text}")

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, form: Any = None) -> None:
        # A path is the service's; a full URL (the token endpoint Apex is given, Salesforce) stays full.
        self._echo(f"   -> {method} {url}")
        for name, value in (headers or {}).items():
            shown = _cookie(value) if name.lower() == "cookie" else _bearer(value)
            self._echo(f"      {name}: {shown}")
        if form is not None:
            for line in _pretty(redact(form)).splitlines():
                self._echo(f"      {line}")

    def response(self, response: httpx.Response) -> None:
        self._echo(f"   <- {response.status_code} {response.reason_phrase}")
        for name in _SHOWN_HEADERS:
            for value in response.headers.get_list(name):
                shown = _cookie(value) if name == "set-cookie" else value
                self._echo(f"      {name}: {shown}")
        body = _json_or_none(response)
        if body is not None:
            for line in _pretty(redact(body)).splitlines():
                self._echo(f"      {line}")

    def identity(self, identity: Mapping[str, Any]) -> None:
        self._echo("   identity:")
        for name in IDENTITY_FIELDS:
            value = identity.get(name)
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
            self._echo(f"      {name:<13}{shown}")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self._echo(
                "   " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )


def _bearer(value: str) -> str:
    scheme, _, credential = value.partition(" ")
    return f"{scheme} {abbreviate(credential)}" if credential else value


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
