"""What a caller presents to authenticate, read the same way at every endpoint and in every framework.

An HTTP adapter (the service's own endpoints, the Starlette/FastAPI dependency, later the Django and
Flask integrations) only copies two header values into :class:`Credentials`; their grammar is checked
here, once: ``Authorization`` must be ``Bearer <token>`` (RFC 6750 §2.1: another scheme is the same
401, a malformed Bearer header the same 400 ``invalid_request``, at every endpoint), and the session
is the value of the ``forcegate_session`` cookie.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from forcegate.errors import AuthenticationRequired, MalformedCredentials
from forcegate.settings import Settings

__all__ = ["SESSION_COOKIE", "Credentials", "bearer_token", "session_cookie_header", "session_from_cookie_header"]

SESSION_COOKIE = "forcegate_session"

# RFC 6750 §2.1 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then any "=" padding.
# A regex: on every API call, and four times cheaper than a set test over the token's characters.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` value.

    The scheme is case-insensitive (RFC 9110 §11.1). Another scheme (``Basic …``) is a credential this
    service does not take: :class:`AuthenticationRequired` (401, with the Bearer challenge). A Bearer
    header without a token, or whose token is not an RFC 6750 ``b64token``, is
    :class:`MalformedCredentials` (400 ``invalid_request``).
    """
    scheme, _, token = authorization.partition(" ")
    token = token.strip(" ")
    if scheme.lower() != "bearer":
        raise AuthenticationRequired("the Authorization scheme must be Bearer (RFC 6750 §2.1)")
    if not token:
        raise MalformedCredentials("the Authorization header must be 'Bearer <token>' (RFC 6750 §2.1)")
    if _B64TOKEN.fullmatch(token) is None:
        raise MalformedCredentials("the bearer token has characters RFC 6750 §2.1 does not allow")
    return token


def session_from_cookie_header(cookie: str | None) -> str | None:
    """The value of the session cookie in a ``Cookie`` header, if it carries a non-empty one."""
    if not cookie:
        return None
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


def session_cookie_header(session_id: str, settings: Settings, *, max_age: int | None = None) -> str:
    """The ``Set-Cookie`` value of a Canvas session (decision 0009), the same in every framework.

    ``HttpOnly; Secure; SameSite=None; Partitioned; Path=/; Max-Age=<session_lifetime>``: the app lives
    in a third-party iframe on a Salesforce page, which needs ``SameSite=None``, which needs ``Secure``;
    ``Partitioned`` (CHIPS) keeps the cookie usable where third-party cookies are blocked. In
    development mode with a plain-http public URL, ``SameSite=Lax`` without ``Secure``. Written out
    because the standard library's ``http.cookies`` (and so Starlette, Django and Werkzeug before 3.1)
    learns ``Partitioned`` only in Python 3.14. The session id is URL-safe base64: no quoting needed.
    ``max_age`` 0 (with an empty id) removes the cookie: the same attributes, or the browser keeps it.
    """
    lifetime = settings.session_lifetime if max_age is None else max_age
    attributes = [f"{SESSION_COOKIE}={session_id}", "Path=/", f"Max-Age={lifetime}", "HttpOnly"]
    if settings.secure_cookies:
        attributes += ["Secure", "SameSite=None", "Partitioned"]
    else:
        attributes.append("SameSite=Lax")
    return "; ".join(attributes)


class Credentials(NamedTuple):
    """The raw ``Authorization`` header value (None: absent) and the session cookie's value (None: absent).

    A named tuple, not a frozen dataclass: one is built for every API call, and a frozen dataclass's
    ``__init__`` costs several times as much.
    """

    authorization: str | None = None
    session: str | None = None

    def __repr__(self) -> str:  # both are credentials: keep them out of logs
        return (
            f"Credentials(authorization={'…' if self.authorization else None}, session={'…' if self.session else None})"
        )

    def bearer(self) -> str | None:
        """The bearer token, if an ``Authorization`` header was sent; a malformed one raises."""
        return None if self.authorization is None else bearer_token(self.authorization)
