"""Turn a keystore into the verification keys the verifier trusts."""

from __future__ import annotations

import dataclasses

from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import KeyMaterialError
from forcegate.keys.model import Keystore
from forcegate.keys.policy import check_key_strength

__all__ = ["trusted_keys"]


def trusted_keys(keystore: Keystore) -> list[TrustedKey]:
    """One :class:`~forcegate.core.trusted_key.TrustedKey` per entry, all checked by the key policy.

    Entries with a certificate (certificate entries, private keys with their certificate, JWKs
    with ``x5c``) are trusted through :meth:`TrustedKey.from_certificate`, which records
    ``x5t#S256`` and the expiry. Bare public keys and private keys without certificate give their
    public key; HMAC secrets give bytes. A JWK's ``kid`` is kept and its ``alg`` restricts the key
    to that algorithm. An entry that cannot verify, or fails the policy, raises: nothing is skipped.
    """
    keys: list[TrustedKey] = []
    for entry in keystore.entries:
        try:
            algorithms = frozenset({entry.jwk_alg}) if entry.jwk_alg else None
            if entry.secret is not None:
                check_key_strength(entry.secret, alg=entry.jwk_alg)
                keys.append(TrustedKey(key=entry.secret, kid=entry.kid, label=entry.alias, algorithms=algorithms))
                continue
            if entry.public_key is None:
                raise KeyMaterialError("no key usable for verification (unsupported key type)")
            check_key_strength(entry.public_key)
            if entry.certificate is not None:
                trusted = TrustedKey.from_certificate(entry.certificate, label=entry.alias, kid=entry.kid)
                keys.append(dataclasses.replace(trusted, algorithms=algorithms))
            else:
                keys.append(TrustedKey(key=entry.public_key, kid=entry.kid, label=entry.alias, algorithms=algorithms))
        except KeyMaterialError as exc:
            raise type(exc)(f"entry {entry.alias!r}: {exc.reason}") from None
    return keys
