"""Certificates and keystores as Salesforce uses them.

Generate a signing certificate like Certificate and Key Management does, write it as PEM, JKS and
PKCS#12, load whatever an operator hands over (JKS, PKCS#12, PEM, DER, JWK, JWKS, the bare base64
certificate of ConnectedApp metadata), turn it into trusted verification keys under one key
policy, and describe it without ever showing a secret.
"""

from forcegate.keys._jks import read_jks, write_jks
from forcegate.keys.describe import describe_entry, sha256_fingerprint
from forcegate.keys.generate import BundlePaths, generate_certificate, self_signed_certificate, write_bundle
from forcegate.keys.jwk import key_from_jwk, load_jwks, public_jwk, rfc7638_thumbprint
from forcegate.keys.load import MAX_KEYSTORE_BYTES, load_keystore, load_keystore_file
from forcegate.keys.model import KeyEntry, Keystore, PrivateKey, PublicKey
from forcegate.keys.pkcs12 import read_pkcs12, write_pkcs12
from forcegate.keys.policy import check_key_strength, is_roca_vulnerable
from forcegate.keys.trust import trusted_keys

__all__ = [
    "MAX_KEYSTORE_BYTES",
    "BundlePaths",
    "KeyEntry",
    "Keystore",
    "PrivateKey",
    "PublicKey",
    "check_key_strength",
    "describe_entry",
    "generate_certificate",
    "is_roca_vulnerable",
    "key_from_jwk",
    "load_jwks",
    "load_keystore",
    "load_keystore_file",
    "public_jwk",
    "read_jks",
    "read_pkcs12",
    "rfc7638_thumbprint",
    "self_signed_certificate",
    "sha256_fingerprint",
    "trusted_keys",
    "write_bundle",
    "write_jks",
    "write_pkcs12",
]
