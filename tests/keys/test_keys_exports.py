from __future__ import annotations

import forcegate.keys


def test_public_surface_is_pinned() -> None:
    assert sorted(forcegate.keys.__all__) == sorted(
        [
            "MAX_KEYSTORE_BYTES", "BundlePaths", "KeyEntry", "Keystore", "PrivateKey", "PublicKey",
            "check_key_strength", "describe_entry", "generate_certificate", "is_roca_vulnerable", "key_from_jwk",
            "load_jwks", "load_keystore", "load_keystore_file", "public_jwk", "read_jks", "read_pkcs12",
            "rfc7638_thumbprint", "sha256_fingerprint", "trusted_keys", "write_bundle", "write_jks", "write_pkcs12",
        ]
    )  # fmt: skip
    for name in forcegate.keys.__all__:
        assert getattr(forcegate.keys, name) is not None
