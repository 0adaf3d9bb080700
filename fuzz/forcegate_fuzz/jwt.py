"""Fuzz target ``jwt``: the JWS parser, the JWT policy, the assertion verifier and access tokens.

What runs on each token: :meth:`JWSVerifier.parse` and :func:`loads_claims` (the parse every path
starts with), :meth:`JWTVerifier.verify` (the generic policy), :meth:`AssertionVerifier.check`
against an in-memory registry of three orgs (the token endpoint and direct Apex JWTs), and
:meth:`AccessTokenVerifier.verify` (a bearer token at the protected API). The registry's main org
trusts real RSA, P-256 and Ed25519 certificates whose keys the target holds, so it can sign what the
fuzzer makes and reach every claim check behind the signature. The first byte picks the mode:

* 0 — the rest is the compact token as received (bytes, and text);
* 1 — ``claims NUL scope``: the claims signed RS256 under Apex's header ``{"alg":"RS256"}``, the
  scope (when not empty) sent as the token request's ``scope`` parameter;
* 2 — ``header NUL claims NUL scope``: both fuzzed, signed with the org key that fits the header's
  ``alg`` (RS256 when none does), so ``kid``, ``x5t#S256``, ``crit`` … reach key selection; a
  header with ``"typ": "at+jwt"`` is signed with the service's key, so the claims reach the
  access-token verifier's checks;
* 3 — ``claims NUL scope`` signed by a key chosen by the next byte: ES256, EdDSA or PS256 (the
  cheaper signatures; an RSA signature per input caps the rate near a thousand a second).

Invariant: each call returns or raises a ForcegateError. When an assertion passes every check, an
access token issued for its identity (as the grant does) must not fail — the claim profile's
bounds promise it — and must verify back to the same identity.
"""

from __future__ import annotations

import base64
import functools
import json

from forcegate.clock import FixedClock
from forcegate.core import ids
from forcegate.core.access_token import AccessTokenIssuer, AccessTokenVerifier, es256_thumbprint
from forcegate.core.algorithms import ASSERTION_ALGORITHMS
from forcegate.core.assertion import AssertionVerifier, VerifiedAssertion
from forcegate.core.jws import JWSVerifier, loads_claims
from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.core.trust import OrgTrust
from forcegate.core.trusted_key import TrustedKey
from forcegate_fuzz._support import NOW, check, org_keys, refused, run_sync, sections, sign_es256, sign_jws

__all__ = ["AUD", "CONSUMER_KEY", "LOCKED_ORG", "ORG", "USERNAME", "signed_token", "test_one_input"]

AUD = "https://svc.example.com/oauth2/token"
SERVICE_URL = "https://svc.example.com"
ORG = ids.to18("00D5g000004ABCD")
LOCKED_ORG = ids.to18("00D5g000009WXYZ")  # one subject list, RS256 only, a 120 s lifetime cap
DISABLED_ORG = ids.to18("00D5g000007QRST")
CONSUMER_KEY = "3MVG9" + "A" * 80  # listed by ORG: may speak for it with an org_id claim
STRAY_KEY = "3MVG9" + "B" * 80  # a registered app no org lists
USERNAME = "integration.user@acme.example"
USER = ids.to18("0055g00000AbCdE")


class _Directory:
    """The registry as the verifier sees it, answering at once (see :func:`run_sync`)."""

    def __init__(self, orgs: tuple[OrgTrust, ...]) -> None:
        self._orgs = {org.org_id: org for org in orgs}

    async def org(self, org_id: str) -> OrgTrust | None:
        return self._orgs.get(org_id)

    async def is_consumer_key(self, issuer: str) -> bool:
        return issuer in (CONSUMER_KEY, STRAY_KEY)


class _World:
    """Everything built once per process: keys, certificates, the registry."""

    def __init__(self) -> None:
        keys = org_keys()
        self.clock = FixedClock(NOW)
        rsa_key = TrustedKey.from_certificate(keys.rsa_certificate, label="rsa", kid="rsa-1")
        trusted = (
            rsa_key,
            TrustedKey.from_certificate(keys.ec_certificate, label="ec"),
            TrustedKey.from_certificate(keys.ed25519_certificate, label="ed25519"),
        )
        self.orgs = (
            OrgTrust(
                org_id=ORG,
                enabled=True,
                issuers=frozenset({ORG, CONSUMER_KEY}),
                subjects=None,
                scopes=frozenset({"api", "refresh", "web"}),
                keys=trusted,
                algorithms=frozenset({"RS256", "RS512", "PS256", "ES256", "EdDSA"}),
                token_lifetime=900,
            ),
            OrgTrust(
                org_id=LOCKED_ORG,
                enabled=True,
                issuers=frozenset({LOCKED_ORG}),
                subjects=frozenset({USERNAME, USER}),
                scopes=frozenset({"api"}),
                keys=(rsa_key,),
                max_assertion_lifetime=120,
            ),
            OrgTrust(
                org_id=DISABLED_ORG,
                enabled=False,
                issuers=frozenset({DISABLED_ORG}),
                subjects=None,
                scopes=frozenset({"api"}),
                keys=(rsa_key,),
            ),
        )
        self.keys_by_issuer = {ORG: trusted, LOCKED_ORG: (rsa_key,), CONSUMER_KEY: trusted}
        service_public = keys.service.public_key()
        self.service_kid = es256_thumbprint(service_public)
        self.issuer = AccessTokenIssuer(
            private_key=keys.service, kid=self.service_kid, issuer=SERVICE_URL, audience=SERVICE_URL, clock=self.clock
        )
        self.service_keys = {self.service_kid: service_public}


@functools.cache
def _world() -> _World:
    return _World()


def _b64url(data: bytes) -> str:
    # The target's own encoder: inputs are built without the code under test.
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_token(header: bytes, claims: bytes) -> bytes:
    """A compact JWS of ``header`` and ``claims`` as given, signed with the key that fits its ``alg``.

    A header with ``"typ": "at+jwt"`` is signed with the service's own access-token key instead,
    so fuzzed claims also get past the access-token verifier's signature check.
    """
    signing_input = (_b64url(header) + "." + _b64url(claims)).encode("ascii")
    alg, typ = _read_header(header)
    signature = sign_es256(org_keys().service, signing_input) if typ == "at+jwt" else sign_jws(alg, signing_input)
    return signing_input + b"." + _b64url(signature).encode("ascii")


def _read_header(header: bytes) -> tuple[str, object]:
    """``alg`` (RS256 when unreadable) and ``typ``: the target's own lenient read, so that a header
    forcegate will refuse still gets a real signature."""
    try:
        value = json.loads(header)
    except (ValueError, RecursionError):  # UnicodeDecodeError included
        return "RS256", None
    if not isinstance(value, dict):
        return "RS256", None
    alg = value.get("alg")
    return (alg if isinstance(alg, str) else "RS256"), value.get("typ")


_APEX_HEADER = b'{"alg":"RS256"}'
_MODE_3 = (b'{"alg":"ES256"}', b'{"alg":"EdDSA"}', b'{"alg":"PS256","kid":"rsa-1"}')


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        _verify_everywhere(body, scope=None, access_token=False)  # the str form below covers it
        _verify_everywhere(body.decode("latin-1"), scope=None, access_token=True)
        return
    if mode == 1:
        claims, scope = sections(body, 2)
        token = signed_token(_APEX_HEADER, claims)
    elif mode == 2:
        header, claims, scope = sections(body, 3)
        token = signed_token(header, claims)
    else:
        chooser, rest = (body[0], body[1:]) if body else (0, b"")
        claims, scope = sections(rest, 2)
        token = signed_token(_MODE_3[chooser % len(_MODE_3)], claims)
    _verify_everywhere(token, scope=scope.decode("utf-8", "replace") if scope else None, access_token=True)


def _verify_everywhere(token: str | bytes, *, scope: str | None, access_token: bool) -> None:
    world = _world()
    # Fresh verifiers per input: they cache validated headers, and a finding must reproduce from
    # its one input, not from what the inputs before it left in a cache.
    parser = JWSVerifier(algorithms=ASSERTION_ALGORITHMS)
    jws = refused(lambda: parser.parse(token))
    if jws is not None:
        refused(lambda: loads_claims(jws.payload))

    policy = JWTPolicy(audiences=frozenset({AUD}), algorithms=ASSERTION_ALGORITHMS)
    jwt_verifier = JWTVerifier(
        policy=policy, keys=lambda issuer: world.keys_by_issuer.get(issuer, ()), clock=world.clock
    )
    verified_jwt = refused(lambda: jwt_verifier.verify(token))
    if verified_jwt is not None:
        repr(verified_jwt)
        verified_jwt.replay_key()

    assertions = AssertionVerifier(directory=_Directory(world.orgs), audiences=[AUD], clock=world.clock)
    assertion = refused(lambda: run_sync(assertions.check(token, requested_scope=scope, source="jwt-bearer")))
    if assertion is not None:
        _issue_and_read_back(assertion)

    if access_token:
        # The bearer header's value is text; the API never sees the bytes form.
        text = token if isinstance(token, str) else token.decode("latin-1")
        access_tokens = AccessTokenVerifier(
            keys=world.service_keys, issuer=SERVICE_URL, audience=SERVICE_URL, clock=world.clock, cache_size=0
        )
        verified_access = refused(lambda: access_tokens.verify(text))
        if verified_access is not None:
            repr(verified_access)
            verified_access.identity.to_dict()


def _issue_and_read_back(assertion: VerifiedAssertion) -> None:
    """What the grant does with an accepted assertion: issuing may not fail, and the API must read
    the same identity back from the access token."""
    world = _world()
    identity = assertion.identity
    check(identity.org_id == assertion.org.org_id, "the identity's org is not the verified org")
    expires_at = identity.expires_at
    check(expires_at is not None and assertion.replay_until >= expires_at, "single use ends before the assertion")
    token, _record = world.issuer.issue(identity, client_id=identity.issuer, lifetime=assertion.org.token_lifetime)
    verifier = AccessTokenVerifier(
        keys=world.service_keys, issuer=SERVICE_URL, audience=SERVICE_URL, clock=world.clock, cache_size=0
    )
    back = verifier.verify(token).identity
    for name in ("source", "org_id", "user_id", "username", "instance_url", "record_id", "scopes", "issuer"):
        check(getattr(back, name) == getattr(identity, name), f"{name} changed in the access token")
    check(dict(back.parameters) == dict(identity.parameters), "parameters changed in the access token")
