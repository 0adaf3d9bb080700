"""Fuzz target ``keystore``: :func:`~forcegate.keys.load_keystore`, as the admin API and the CLI reach it.

The first byte picks the mode:

* 0 — the rest is the ``certificate`` text of ``POST /admin/api/v1/orgs/{org}/certificates``
  (UTF-8, undecodable bytes replaced as no JSON string can hold them): checked by
  ``CertificateInput``, then ``load_keystore(text.encode())`` and ``certificates_in``, as
  ``RegistryService.add_certificate_text`` does. Text starting with ``0`` reaches the DER readers,
  ``{`` the JWK readers, ``-----BEGIN`` the PEM reader;
* 1 — the rest is a file given to ``forcegate certs add`` / ``keys inspect`` (any bytes: JKS,
  PKCS#12, DER …), without a password;
* 2 — the same with the password ``changeit``, which opens the encrypted seeds.

What follows a load is read too, as the registry and the CLI read it: ``certificates_in``, the
certificate policy (``check_certificate``, which the admin API applies before trusting one),
``trusted_keys`` (what a verifier is built from) and ``describe_entry`` (``forcegate keys inspect``).

Invariant: every call returns or raises a ForcegateError.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.core.algorithms import ASSERTION_ALGORITHMS
from forcegate.keys import describe_entry, load_keystore, trusted_keys
from forcegate.keys.model import Keystore
from forcegate.registry.inputs import CertificateInput
from forcegate.registry.policy import check_certificate
from forcegate.registry.results import certificates_in
from forcegate_fuzz._support import NOW, refused

__all__ = ["PASSWORD", "test_one_input"]

PASSWORD = b"changeit"
_NOW = dt.datetime.fromtimestamp(NOW, dt.UTC)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 3, data[1:]
    if mode == 0:
        text = body.decode("utf-8", "replace")
        given = refused(lambda: CertificateInput.from_json({"certificate": text}))
        if given is not None:
            keystore = refused(lambda: load_keystore(given.certificate.encode("utf-8")))
            if keystore is not None:
                _read(keystore)
        return
    keystore = refused(lambda: load_keystore(body, password=PASSWORD if mode == 2 else None, filename="fuzz.pem"))
    if keystore is not None:
        _read(keystore)


def _read(keystore: Keystore) -> None:
    for _label, certificate in refused(lambda: certificates_in(keystore)) or ():
        fingerprint = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
        refused(
            functools.partial(
                check_certificate, certificate, fingerprint=fingerprint, algorithms=ASSERTION_ALGORITHMS, now=_NOW
            )
        )
    refused(lambda: trusted_keys(keystore))
    for entry in keystore.entries:
        refused(functools.partial(keystore.get, entry.alias))
        refused(functools.partial(describe_entry, entry, now=_NOW))
