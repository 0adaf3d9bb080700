"""The service's access-token keys as the request path uses them: one signer, every key a verifier.

Built from the :class:`~forcegate.stores.models.SigningKey` records (newest first): the newest active
key signs, every key verifies the tokens it signed. A new :class:`SigningState` is built whenever the
records change, with a new verifier and so an empty verified-token cache: a token verified earlier
under a key retired since is never answered from an old cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from forcegate.clock import Clock
from forcegate.core.access_token import AccessTokenIssuer, AccessTokenVerifier, access_token_header, es256_jwk
from forcegate.errors import ConfigurationError
from forcegate.settings import Settings
from forcegate.stores.models import SigningKey

__all__ = ["SigningState", "signing_state"]


@dataclass(frozen=True, slots=True)
class SigningState:
    """``loaded``: (kid, active) of each record it was built from, to tell whether a reload changed anything.
    ``prefixes``: our tokens' encoded headers (fixed per key), to route a bearer token without decoding it."""

    issuer: AccessTokenIssuer
    verifier: AccessTokenVerifier
    jwks: dict[str, object]
    prefixes: tuple[str, ...]
    loaded: tuple[tuple[str, bool], ...]


def signing_state(records: Sequence[SigningKey], settings: Settings, clock: Clock) -> SigningState:
    if not records:
        raise ConfigurationError("no signing key in the store: run `forcegate serve` once to create one")
    public: dict[str, ec.EllipticCurvePublicKey] = {}
    private: dict[str, ec.EllipticCurvePrivateKey] = {}
    signer: tuple[ec.EllipticCurvePrivateKey, str] | None = None
    for record in records:
        key = load_pem_private_key(record.private_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError(f"signing key {record.kid} is not an EC key")
        public[record.kid] = key.public_key()
        private[record.kid] = key
        if signer is None and record.active:
            signer = (key, record.kid)
    if signer is None:
        raise ConfigurationError("no active signing key")
    issuer = AccessTokenIssuer(
        private_key=signer[0],
        kid=signer[1],
        issuer=settings.public_url,
        audience=settings.public_url,
        lifetime=settings.token_lifetime,
        clock=clock,
    )
    verifier = AccessTokenVerifier(
        keys=public,
        issuer=settings.public_url,
        audience=settings.public_url,
        leeway=settings.leeway,
        clock=clock,
        signing_keys=private,
    )
    return SigningState(
        issuer=issuer,
        verifier=verifier,
        jwks={"keys": [es256_jwk(key, kid) for kid, key in public.items()]},
        prefixes=tuple(access_token_header(kid) + "." for kid in public),
        loaded=tuple((record.kid, record.active) for record in records),
    )
