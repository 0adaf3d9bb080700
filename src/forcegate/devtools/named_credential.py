"""Salesforce's side of a Named Credential callout: an External Credential signs a JWT, and the platform
exchanges it (OAuth 2.0 JWT Bearer Flow) or sends it (the JWT protocol) and attaches the credential.

What Salesforce documents, and this emulator reproduces (docs/decisions/0020-named-credential-mode.md
lists the pages):

* Claims: ``iss`` and ``aud`` as configured, ``sub`` a string (named principal) or a formula (per-user
  principal), ``exp`` from the credential's expiration (two minutes when none is set), ``iat`` and
  ``nbf`` added automatically, then the credential's custom claims, whose values may be formulas.
* Header: ``alg`` RS256 (default) or RS512, and a ``kid`` Salesforce adds itself.
* JWT Bearer Flow: the JWT is POSTed form-encoded to the credential's token endpoint as
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…``, with the credential's
  scope as a separate ``scope`` parameter when it has one; the ``access_token`` answered goes into
  ``Authorization: Bearer`` of each callout through the Named Credential.
* JWT protocol: the signed JWT itself is the bearer credential of the callout.

Choices where Salesforce is not documented (each is a parameter, so a test can try the other case):
the ``kid`` value (the credential's name here; forcegate may not know it and must not need it),
``typ`` ``JWT`` (present), ``nbf`` equal to ``iat``, the claims in the order above, a token kept per
principal until its ``expires_in`` runs out and exchanged again once after a 401, a JWT of the JWT
protocol minted anew for each callout. A failed exchange raises
:class:`~forcegate.errors.TokenExchangeError` with the message Apex reports ("Unable to complete the
JWT token exchange", salesforce.stackexchange.com question 310834). Formulas: only the merge fields
the generated credential uses (``{!$User.Username}``, ``{!$User.Id}``, ``{!$Organization.Id}``)
are evaluated; any other formula is refused rather than guessed.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from forcegate.clock import Clock, SystemClock
from forcegate.devtools.apex_jwt import CertificateAndKeyManagement
from forcegate.devtools.token_exchange import GRANT_TYPE
from forcegate.errors import ConfigurationError, TokenExchangeError

__all__ = [
    "DEFAULT_EXPIRATION",
    "ExternalCredential",
    "NamedCredential",
    "SalesforceUser",
]

#: Salesforce's default when the credential sets no expiration: two minutes.
DEFAULT_EXPIRATION = 120
_METADATA = "{http://soap.sforce.com/2006/04/metadata}"
_MERGE_FIELD = re.compile(r"\{!\$(User|Organization)\.([A-Za-z]+)\}")
_VARIANTS = {"JwtBearer": "jwt-bearer"}
# Only a short code-like `error` goes into the message; the body keeps the rest.
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")
Protocol = Literal["jwt-bearer", "jwt"]


@dataclass(frozen=True, slots=True)
class SalesforceUser:
    """The running user, whose merge fields the platform evaluates in the credential's formulas."""

    org_id: str
    user_id: str
    username: str

    def evaluate(self, value: str) -> str:
        """A claim value: literal text, or one of the merge fields listed in the module docstring."""
        fields = {
            ("User", "Username"): self.username,
            ("User", "Id"): self.user_id,
            ("Organization", "Id"): self.org_id,
        }
        whole = _MERGE_FIELD.fullmatch(value)
        if whole is not None:
            found = fields.get((whole.group(1), whole.group(2)))
            if found is not None:
                return found
        if "{!" in value:
            raise ConfigurationError(f"the emulator does not evaluate the formula {value!r}")
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalCredential:
    """An External Credential of the JWT Bearer Flow (``token_endpoint`` set) or the JWT protocol (None).

    ``claims`` are the JWT claims as configured (``iss``, ``sub``, ``aud`` and custom ones), values
    literal or formulas; ``certificate_name`` is the signing certificate the subscriber admin assigned.
    """

    name: str
    certificate_name: str
    claims: Mapping[str, str]
    token_endpoint: str | None = None
    algorithm: str = "RS256"
    expiration: int = DEFAULT_EXPIRATION
    scope: str | None = None
    key_id: str | None = None
    typ: str | None = "JWT"

    @property
    def protocol(self) -> Protocol:
        return "jwt" if self.token_endpoint is None else "jwt-bearer"

    @classmethod
    def from_metadata(cls, xml: str, *, name: str, certificate_name: str) -> ExternalCredential:
        """Read a ``.externalCredential-meta.xml`` (as ``forcegate sfdx scaffold`` writes it): the
        protocol variant, the token endpoint (``AuthProviderUrl``), the ``JwtBodyClaim`` parameters and
        the ``Scope`` auth parameter."""
        root = ET.fromstring(xml)  # noqa: S314 -- the package's own generated metadata
        protocol = root.findtext(f"{_METADATA}authenticationProtocol")
        parameters: dict[str, dict[str, str]] = {}
        for item in root.iter(f"{_METADATA}externalCredentialParameters"):
            kind = item.findtext(f"{_METADATA}parameterType") or ""
            key = item.findtext(f"{_METADATA}parameterName") or ""
            parameters.setdefault(kind, {})[key] = item.findtext(f"{_METADATA}parameterValue") or ""
        variant = parameters.get("AuthProtocolVariant", {}).get("AuthProtocolVariant")
        if protocol == "Oauth" and variant in _VARIANTS:
            endpoint: str | None = parameters.get("AuthProviderUrl", {}).get("AuthProviderUrl")
            if not endpoint:
                raise ConfigurationError(f"external credential {name}: the JWT Bearer Flow needs an AuthProviderUrl")
        elif protocol == "Jwt":
            endpoint = None
        else:
            raise ConfigurationError(f"external credential {name}: protocol {protocol!r}/{variant!r} is not a JWT one")
        return cls(
            name=name,
            certificate_name=certificate_name,
            claims=dict(parameters.get("JwtBodyClaim", {})),
            token_endpoint=endpoint,
            scope=parameters.get("AuthParameter", {}).get("Scope") or None,
        )

    def header(self) -> dict[str, object]:
        """The JWS header members after ``alg``."""
        header: dict[str, object] = {}
        if self.typ is not None:
            header["typ"] = self.typ
        header["kid"] = self.key_id if self.key_id is not None else self.name
        return header

    def claims_for(self, user: SalesforceUser, *, clock: Clock | None = None) -> dict[str, object]:
        """The claims set the platform signs for ``user`` now."""
        now = math.floor((clock or SystemClock()).now())
        configured = {name: user.evaluate(value) for name, value in self.claims.items()}
        result: dict[str, object] = {name: configured.pop(name) for name in ("iss", "sub", "aud") if name in configured}
        result.update({"exp": now + self.expiration, "iat": now, "nbf": now})
        result.update(configured)
        return result

    def jwt(
        self, user: SalesforceUser, *, certificates: CertificateAndKeyManagement, clock: Clock | None = None
    ) -> str:
        """The compact JWS the platform mints for ``user``."""
        payload = json.dumps(self.claims_for(user, clock=clock), separators=(",", ":"), ensure_ascii=False)
        return certificates.sign_jws(
            self.certificate_name, payload.encode("utf-8"), alg=self.algorithm, header=self.header()
        )

    def token_request(
        self, user: SalesforceUser, *, certificates: CertificateAndKeyManagement, clock: Clock | None = None
    ) -> dict[str, str]:
        """The form the JWT Bearer Flow POSTs to :attr:`token_endpoint`."""
        form = {"grant_type": GRANT_TYPE, "assertion": self.jwt(user, certificates=certificates, clock=clock)}
        if self.scope:
            form["scope"] = self.scope
        return form


@dataclass
class NamedCredential:
    """``callout:NAME/path``: the Named Credential's URL, its External Credential, the org's certificates.

    :meth:`send` is an Apex callout through it, as the running ``user``: the platform adds the
    credential; the caller's own headers go along, an ``Authorization`` of its own excepted.
    """

    url: str
    credential: ExternalCredential
    certificates: CertificateAndKeyManagement = field(repr=False)
    client: httpx.Client = field(repr=False)
    clock: Clock = field(default_factory=SystemClock, repr=False)
    #: Per principal (the user for a per-user principal): the access token and when it runs out.
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)
    #: Every token request sent, for tests that check exactly what went over the wire.
    token_requests: list[dict[str, str]] = field(default_factory=list, repr=False)

    def send(
        self,
        method: str,
        path: str,
        user: SalesforceUser,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """The callout; raises :class:`~forcegate.errors.TokenExchangeError` when the exchange fails."""
        own = {name: value for name, value in (headers or {}).items() if name.lower() != "authorization"}
        if self.credential.protocol == "jwt":
            jwt = self.credential.jwt(user, certificates=self.certificates, clock=self.clock)
            return self._call(method, path, own, content, jwt)
        cached = self._tokens.get(user.user_id)
        if cached is None or cached[1] <= self.clock.now():
            token, fresh = self._exchange(user), True
        else:
            token, fresh = cached[0], False
        response = self._call(method, path, own, content, token)
        if response.status_code == 401 and not fresh:
            response = self._call(method, path, own, content, self._exchange(user))
        return response

    def _call(
        self, method: str, path: str, headers: dict[str, str], content: bytes | None, bearer: str
    ) -> httpx.Response:
        return self.client.request(
            method, self.url + path, headers={**headers, "Authorization": f"Bearer {bearer}"}, content=content
        )

    def _exchange(self, user: SalesforceUser) -> str:
        endpoint = self.credential.token_endpoint
        if endpoint is None:  # the JWT protocol exchanges nothing
            raise ConfigurationError(f"external credential {self.credential.name} has no token endpoint")
        form = self.credential.token_request(user, certificates=self.certificates, clock=self.clock)
        self.token_requests.append(form)
        self._tokens.pop(user.user_id, None)
        response = self.client.post(endpoint, data=form)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            error = answer.get("error") if isinstance(answer, dict) else None
            raise TokenExchangeError(
                "Unable to complete the JWT token exchange."
                + (f" Error: {error}." if isinstance(error, str) and _OAUTH_ERROR.fullmatch(error) else ""),
                status_code=response.status_code,
                body=response.text,
            )
        lifetime = answer.get("expires_in")
        expires = self.clock.now() + (lifetime if isinstance(lifetime, int) and lifetime > 0 else 0)
        self._tokens[user.user_id] = (token, expires)
        return token
