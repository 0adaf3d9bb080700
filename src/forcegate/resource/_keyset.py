"""The service's JWKS, read for verifying access tokens: its ES256 keys on P-256, by ``kid``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from forcegate.errors import KeyMaterialError, StoreUnavailable
from forcegate.keys import key_from_jwk

__all__ = ["MAX_KEYS", "parse_jwks", "same_keys"]

log = logging.getLogger("forcegate.resource")

#: More keys than a service keeps live (its signing key and those retired recently) by far; the bound
#: keeps a hostile or broken answer from costing a key parse per entry without end.
MAX_KEYS = 32
_MAX_KID = 256


def parse_jwks(document: Any, *, url: str) -> dict[str, ec.EllipticCurvePublicKey]:
    """``kid`` -> P-256 public key, for every usable key of the JWK Set ``document`` (RFC 7517 §5).

    A key is used only if it is an EC P-256 public key with a ``kid``, ``use`` absent or ``sig``, and
    ``alg`` absent or ``ES256`` (RFC 7518 §3.4; the algorithm is pinned here, not read from tokens).
    Other keys are skipped, as any JWKS client skips keys it cannot use. Refused as a whole
    (:class:`StoreUnavailable`: the answer is unusable): not a JSON object with a ``keys`` list, more
    than :data:`MAX_KEYS` keys, private key material, a ``kid`` given twice, or no usable key at all.
    """
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise StoreUnavailable(f"the JWKS at {url} is not a JSON object with a 'keys' list")
    if len(keys) > MAX_KEYS:
        raise StoreUnavailable(f"the JWKS at {url} has {len(keys)} keys, more than {MAX_KEYS}")
    found: dict[str, ec.EllipticCurvePublicKey] = {}
    kids: set[str] = set()
    for index, jwk in enumerate(keys):
        if not isinstance(jwk, dict):
            raise StoreUnavailable(f"the JWKS at {url}: key #{index} is not a JSON object")
        if any(member in jwk for member in ("d", "p", "q", "k")):
            raise StoreUnavailable(f"the JWKS at {url} publishes private key material (key #{index})")
        kid = jwk.get("kid")
        if isinstance(kid, str):
            if kid in kids:
                raise StoreUnavailable(f"the JWKS at {url} has kid {kid[:_MAX_KID]!r} twice")
            kids.add(kid)
        key = _usable(jwk, kid)
        if key is not None and isinstance(kid, str):
            found[kid] = key
    if not found:
        raise StoreUnavailable(f"the JWKS at {url} has no ES256 (P-256) signing key with a kid")
    return found


def _usable(jwk: Mapping[str, Any], kid: object) -> ec.EllipticCurvePublicKey | None:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or jwk.get("alg", "ES256") != "ES256":
        return None
    if jwk.get("use", "sig") != "sig" or not isinstance(kid, str) or not 0 < len(kid) <= _MAX_KID:
        return None
    try:
        entry = key_from_jwk(jwk)
    except KeyMaterialError as exc:
        log.warning("JWKS key %r skipped: %s", kid, exc.reason)
        return None
    public = entry.public_key
    return public if isinstance(public, ec.EllipticCurvePublicKey) else None


def same_keys(a: Mapping[str, ec.EllipticCurvePublicKey], b: Mapping[str, ec.EllipticCurvePublicKey]) -> bool:
    """Whether two key sets hold the same keys under the same kids (a refetch that changed nothing)."""
    return a.keys() == b.keys() and all(a[kid].public_numbers() == b[kid].public_numbers() for kid in a)
