from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Literal

import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from forcegate.errors import KeyMaterialError, KeystorePasswordError
from forcegate.keys import (
    MAX_KEYSTORE_BYTES,
    KeyEntry,
    load_keystore,
    load_keystore_file,
    public_jwk,
    write_jks,
    write_pkcs12,
)
from forcegate.keys.model import same_public_key
from keys.keys_support import (
    PASSWORD,
    WARNING_FILTERS,
    Chain,
    as_pem,
    odd_certificate_der,
    odd_name_der,
    warnings_filter,
)


def _cert_pem(entry: KeyEntry) -> bytes:
    assert entry.certificate is not None
    return entry.certificate.public_bytes(Encoding.PEM)


def _key(
    entry: KeyEntry, fmt: PrivateFormat, encoding: Encoding = Encoding.PEM, password: bytes | None = None
) -> bytes:
    assert entry.private_key is not None
    encryption = BestAvailableEncryption(password) if password else NoEncryption()
    return entry.private_key.private_bytes(encoding, fmt, encryption)


def test_jks(rsa_entry: KeyEntry) -> None:
    keystore = load_keystore(write_jks([rsa_entry], password=PASSWORD), password=PASSWORD)
    assert keystore.signing_entry().source_format == "jks"


def test_jceks_is_named_in_the_error() -> None:
    with pytest.raises(KeyMaterialError, match="JCEKS"):
        load_keystore(bytes.fromhex("cececece00000002") + bytes(30))


def test_pkcs12(rsa_entry: KeyEntry) -> None:
    keystore = load_keystore(write_pkcs12(rsa_entry, password=PASSWORD), password=PASSWORD)
    assert keystore.signing_entry().source_format == "pkcs12"


def test_pkcs12_wrong_password_is_a_password_error(rsa_entry: KeyEntry) -> None:
    with pytest.raises(KeystorePasswordError):
        load_keystore(write_pkcs12(rsa_entry, password=PASSWORD), password=b"other")


def test_pem_certificate(rsa_entry: KeyEntry) -> None:
    keystore = load_keystore(_cert_pem(rsa_entry))
    (entry,) = keystore.entries
    assert (entry.alias, entry.kind, entry.source_format) == ("forcegate_test", "certificate", "pem")
    assert entry.certificate == rsa_entry.certificate
    assert entry.public_key is not None


@pytest.mark.parametrize("key_first", [True, False])
def test_pem_key_and_certificate_pair_up(rsa_entry: KeyEntry, key_first: bool) -> None:
    parts = [_key(rsa_entry, PrivateFormat.PKCS8), _cert_pem(rsa_entry)]
    data = b"".join(parts if key_first else parts[::-1])
    (entry,) = load_keystore(data).entries
    assert entry.kind == "private_key"
    assert entry.certificate == rsa_entry.certificate
    assert entry.chain == (rsa_entry.certificate,)


def test_pem_bundle_with_chain_and_extra_certificate(chain: Chain, second_rsa_entry: KeyEntry) -> None:
    leaf_key = chain.leaf_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in (chain.root, chain.leaf, chain.intermediate))
    data = b"Bag Attributes: text that openssl prints\n" + pem + leaf_key + _cert_pem(second_rsa_entry)
    keystore = load_keystore(data)
    assert [(e.alias, e.kind) for e in keystore.entries] == [
        ("Leaf", "private_key"),
        ("forcegate_other", "certificate"),
    ]
    assert keystore.get("Leaf").chain == (chain.leaf, chain.intermediate, chain.root)


def test_pem_certificates_without_key_stay_separate(chain: Chain) -> None:
    data = b"".join(c.public_bytes(Encoding.PEM) for c in (chain.leaf, chain.intermediate))
    assert load_keystore(data).aliases == ("Leaf", "Intermediate")


@pytest.mark.parametrize("fmt", [PrivateFormat.TraditionalOpenSSL, PrivateFormat.PKCS8])
def test_pem_private_key_formats(rsa_entry: KeyEntry, ec_entry: KeyEntry, fmt: PrivateFormat) -> None:
    data = _key(rsa_entry, fmt) + _key(ec_entry, fmt)
    assert data.count(b"-----BEGIN ") == 2
    keystore = load_keystore(data, filename="signing.key.pem")
    assert [(e.alias, e.kind, e.certificate) for e in keystore.entries] == [
        ("signing", "private_key", None),
        ("signing-2", "private_key", None),
    ]


def test_pem_encrypted_private_key(rsa_entry: KeyEntry) -> None:
    data = _key(rsa_entry, PrivateFormat.PKCS8, password=b"secret-pw") + _cert_pem(rsa_entry)
    assert b"ENCRYPTED PRIVATE KEY" in data
    entry = load_keystore(data, password=b"secret-pw").signing_entry()
    assert entry.certificate == rsa_entry.certificate
    with pytest.raises(KeystorePasswordError, match="password is required"):
        load_keystore(data)
    with pytest.raises(KeystorePasswordError, match="wrong password"):
        load_keystore(data, password=b"not-it")


def test_pem_legacy_encrypted_rsa_key(rsa_entry: KeyEntry) -> None:
    data = _key(rsa_entry, PrivateFormat.TraditionalOpenSSL, password=b"secret-pw")
    assert b"Proc-Type: 4,ENCRYPTED" in data
    assert load_keystore(data, password=b"secret-pw").signing_entry().private_key is not None


def test_pem_unencrypted_key_ignores_a_password(rsa_entry: KeyEntry) -> None:
    assert load_keystore(_key(rsa_entry, PrivateFormat.PKCS8), password=b"store-password").signing_entry()


@pytest.mark.parametrize("fmt", [PublicFormat.SubjectPublicKeyInfo, PublicFormat.PKCS1])
def test_pem_public_keys(rsa_entry: KeyEntry, fmt: PublicFormat) -> None:
    assert rsa_entry.public_key is not None
    (entry,) = load_keystore(rsa_entry.public_key.public_bytes(Encoding.PEM, fmt)).entries
    assert entry.kind == "public_key"
    assert same_public_key(entry.public_key, rsa_entry.public_key)


def test_pem_public_key_of_a_present_private_key_is_not_repeated(ec_entry: KeyEntry) -> None:
    assert ec_entry.public_key is not None
    public = ec_entry.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert [e.kind for e in load_keystore(_key(ec_entry, PrivateFormat.PKCS8) + public).entries] == ["private_key"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "not a key or certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "unreadable"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "no END line"),
        (b"-----BEGIN lower-----\nAAAA\n-----END lower-----\n", "malformed BEGIN"),
        (b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n", "no key or certificate"),
    ],
)
def test_pem_errors(data: bytes, match: str) -> None:
    with pytest.raises(KeyMaterialError, match=match):
        load_keystore(data)


def test_der_certificate_public_key_and_private_key(rsa_entry: KeyEntry) -> None:
    assert rsa_entry.certificate is not None
    assert rsa_entry.public_key is not None
    certificate = load_keystore(rsa_entry.certificate.public_bytes(Encoding.DER)).entries[0]
    assert (certificate.kind, certificate.source_format) == ("certificate", "der")
    spki = rsa_entry.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert load_keystore(spki).entries[0].kind == "public_key"
    pkcs8 = _key(rsa_entry, PrivateFormat.PKCS8, Encoding.DER)
    assert load_keystore(pkcs8).entries[0].kind == "private_key"
    encrypted = _key(rsa_entry, PrivateFormat.PKCS8, Encoding.DER, password=b"secret-pw")
    assert load_keystore(encrypted, password=b"secret-pw").entries[0].kind == "private_key"
    with pytest.raises(KeystorePasswordError):
        load_keystore(encrypted)


def test_bare_base64_certificate_like_connected_app_metadata(rsa_entry: KeyEntry) -> None:
    assert rsa_entry.certificate is not None
    encoded = base64.b64encode(rsa_entry.certificate.public_bytes(Encoding.DER)).decode()
    for text in (encoded, "\n".join(textwrap.wrap(encoded, 64)) + "\n", f"  {encoded}  "):
        (entry,) = load_keystore(text.encode()).entries
        assert entry.certificate == rsa_entry.certificate


def test_jwk_and_jwks(ec_entry: KeyEntry) -> None:
    assert ec_entry.public_key is not None
    jwk = public_jwk(ec_entry.public_key, kid="k1", alg="ES256")
    (single,) = load_keystore(json.dumps(jwk).encode()).entries
    assert (single.alias, single.kind, single.source_format, single.kid) == ("k1", "public_key", "jwk", "k1")
    (listed,) = load_keystore(json.dumps({"keys": [jwk]}).encode()).entries
    assert listed.source_format == "jwks"
    with pytest.raises(KeyMaterialError, match="neither a JWK"):
        load_keystore(b'{"issuer": "x"}')
    with pytest.raises(KeyMaterialError, match="does not parse"):
        load_keystore(b'{"kty": ')


@pytest.mark.parametrize(
    "data", [b"hello world", b"\x00\x01\x02garbage", b"QUJD", b"\x30\x82\x01\x00", "ünïcode".encode(), b"[1, 2]"]
)
def test_unrecognised_material_lists_what_was_tried(data: bytes) -> None:
    with pytest.raises(KeyMaterialError, match="tried JKS, PKCS#12") as caught:
        load_keystore(data, filename="mystery.bin")
    assert "mystery.bin" in str(caught.value)


def test_many_unterminated_pem_lines_fail_fast() -> None:
    with pytest.raises(KeyMaterialError, match="no END line"):
        load_keystore(b"-----BEGIN CERTIFICATE-----\n" * 30_000)  # just under 1 MiB


def test_empty_and_oversized_input() -> None:
    with pytest.raises(KeyMaterialError, match="empty"):
        load_keystore(b"  \n")
    with pytest.raises(KeyMaterialError, match="larger than"):
        load_keystore(b"A" * (MAX_KEYSTORE_BYTES + 1))


def test_load_keystore_file(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    path = tmp_path / "partner.crt"
    path.write_bytes(_cert_pem(rsa_entry))
    assert load_keystore_file(path).entries[0].certificate == rsa_entry.certificate
    assert load_keystore_file(str(path)).entries[0].certificate == rsa_entry.certificate
    with pytest.raises(KeyMaterialError, match="cannot read"):
        load_keystore_file(tmp_path / "missing.pem")


def _only_key_material_errors(data: bytes, password: bytes | None) -> None:
    # Any exception other than KeyMaterialError (or a subclass) propagates and fails the test.
    try:
        keystore = load_keystore(data, password=password)
    except KeyMaterialError:
        return
    assert keystore.entries


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), password=st.one_of(st.none(), st.binary(max_size=10)))
def test_arbitrary_bytes_raise_only_key_material_errors(data: bytes, password: bytes | None) -> None:
    _only_key_material_errors(data, password)


_PREFIXES = [
    bytes.fromhex("feedfeed00000002"),
    bytes.fromhex("cececece"),
    b"\x30\x82",
    b"-----BEGIN CERTIFICATE-----\n",
    b"-----BEGIN PRIVATE KEY-----\n",
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
    b'{"kty": "RSA", ',
    b'{"keys": [',
    b"MII",
]


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(_PREFIXES), rest=st.binary(max_size=400), password=st.sampled_from([None, PASSWORD]))
def test_plausible_prefixes_raise_only_key_material_errors(prefix: bytes, rest: bytes, password: bytes | None) -> None:
    _only_key_material_errors(prefix + rest, password)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n", max_size=300))
def test_base64_like_text_raises_only_key_material_errors(text: str) -> None:
    _only_key_material_errors(text.encode(), None)


def test_a_certificate_with_an_impossible_version_is_key_material_error(rsa_entry: KeyEntry) -> None:
    # cryptography raises x509.InvalidVersion (not a ValueError) for version fields other than v1..v3:
    # found by the damaged-keystore property test; every loader maps it like any other damage.
    assert rsa_entry.certificate is not None
    der = rsa_entry.certificate.public_bytes(Encoding.DER)
    version_v3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2, at the start of the TBSCertificate
    assert version_v3 in der
    damaged = der.replace(version_v3, b"\xa0\x03\x02\x01\x03", 1)
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(damaged) + b"-----END CERTIFICATE-----\n"
    for data in (damaged, pem):
        with pytest.raises(KeyMaterialError):
            load_keystore(data)


# --- certificates forcegate refuses (fuzzing findings, fuzz/crashes/keystore/) ----------------------


def _forms(der: bytes) -> list[tuple[bytes, str]]:
    """The certificate as DER, as PEM, as the bare base64 of ConnectedApp metadata; each refusal's prefix."""
    return [(der, ""), (as_pem(der), "PEM block #1: "), (base64.b64encode(der), "")]


@pytest.mark.parametrize("action", WARNING_FILTERS)
@pytest.mark.parametrize("serial", [0, -1])
def test_a_certificate_whose_serial_is_not_positive_is_refused(
    ec_entry: KeyEntry, action: Literal["error", "ignore"], serial: int
) -> None:
    # RFC 5280 §4.1.2.2; cryptography only warns (an error under pytest), and says it will refuse later.
    assert ec_entry.private_key is not None
    for data, prefix in _forms(odd_certificate_der(ec_entry.private_key, serial=serial)):
        with warnings_filter(action), pytest.raises(KeyMaterialError) as refused:
            load_keystore(data)
        assert (
            refused.value.reason
            == f"{prefix}certificate serial number is not positive (RFC 5280 §4.1.2.2 requires a positive integer)"
        )


@pytest.mark.parametrize(
    ("which", "cn", "message"),
    [
        (
            "subject",
            b"\x0c\x07\xff\xfe\xfd\xfc\xfb\xfa\xf9",
            "certificate subject name does not parse: an attribute value has a type names do not use, "
            "or is not valid for its string type (such as a UTF8String that is not UTF-8)",
        ),
        (
            "issuer",
            b"\x0c\x06\xff\xfe\xfd\xfc\xfb\xfa",
            "certificate issuer name does not parse: an attribute value has a type names do not use, "
            "or is not valid for its string type (such as a UTF8String that is not UTF-8)",
        ),
        (
            "subject",
            b"\x03\x07\x00subjec",
            "certificate subject name has a BIT STRING attribute that is not an x500UniqueIdentifier",
        ),
    ],
)
def test_a_certificate_whose_name_does_not_parse_is_refused(
    ec_entry: KeyEntry, which: Literal["subject", "issuer"], cn: bytes, message: str
) -> None:
    # cryptography parses names lazily: these loaded, then failed with ValueError / TypeError where
    # the name was first read (the alias, describe_entry), a 500 at the admin API.
    assert ec_entry.private_key is not None
    for data, prefix in _forms(odd_name_der(ec_entry.private_key, which, cn)):
        with pytest.raises(KeyMaterialError) as refused:
            load_keystore(data)
        assert refused.value.reason == prefix + message


def test_a_refused_certificate_beside_its_key_names_its_pem_block(ec_entry: KeyEntry) -> None:
    assert ec_entry.private_key is not None
    odd = as_pem(odd_certificate_der(ec_entry.private_key, serial=-1))
    with pytest.raises(KeyMaterialError, match="PEM block #2: certificate serial number is not positive"):
        load_keystore(_key(ec_entry, PrivateFormat.PKCS8) + odd)
