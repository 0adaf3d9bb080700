"""Auth.JWT, Auth.JWS and Certificate and Key Management, emulated."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from forcegate.clock import FixedClock
from forcegate.devtools.apex_jwt import (
    DEFAULT_NBF_CLOCK_SKEW,
    DEFAULT_VALIDITY_LENGTH,
    STANDARD_CLAIMS,
    AuthJWS,
    AuthJWT,
    CertificateAndKeyManagement,
)
from forcegate.errors import ConfigurationError, InvalidAdditionalClaim
from helpers import b64url, make_jws

CertificateFactory = Callable[[CertificateIssuerPrivateKeyTypes, str], x509.Certificate]  # conftest.make_certificate

NOW = 1_700_000_000.75  # a fractional instant: exp/nbf must be whole seconds


def _b64url_decode(part: str) -> bytes:
    # Independent of forcegate's own codec, so a bug there cannot hide here.
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _jwt() -> AuthJWT:
    jwt = AuthJWT()
    jwt.set_iss("3MVG9example.consumer.key")
    jwt.set_sub("user@example.com")
    jwt.set_aud("https://api.example.com/oauth2/token")
    jwt.set_additional_claims({"scope": "api", "org_id": "00D000000000001AAA"})
    return jwt


# --- AuthJWT ---------------------------------------------------------------------------------------


def test_claims_json_known_answer() -> None:
    assert _jwt().to_json_string(clock=FixedClock(NOW)) == (
        '{"iss":"3MVG9example.consumer.key","sub":"user@example.com",'
        '"aud":"https://api.example.com/oauth2/token","exp":1700000300,"nbf":1700000000,'
        '"scope":"api","org_id":"00D000000000001AAA"}'
    )


def test_defaults() -> None:
    jwt = AuthJWT()
    assert jwt.get_validity_length() == DEFAULT_VALIDITY_LENGTH == 300
    assert jwt.get_nbf_clock_skew() == DEFAULT_NBF_CLOCK_SKEW == 0
    assert (jwt.get_iss(), jwt.get_sub(), jwt.get_aud()) == (None, None, None)
    assert jwt.get_additional_claims() == {}
    # Unset iss/sub/aud are left out; exp and nbf are always there; no iat, no jti.
    assert json.loads(jwt.to_json_string(clock=FixedClock(NOW))) == {"exp": 1_700_000_300, "nbf": 1_700_000_000}


def test_validity_length_and_skew_move_exp_and_nbf() -> None:
    jwt = _jwt()
    jwt.set_validity_length(60)
    jwt.set_nbf_clock_skew(30)
    claims = jwt.claims(clock=FixedClock(NOW))
    assert claims["exp"] == 1_700_000_060
    assert claims["nbf"] == 1_699_999_970
    assert (jwt.get_validity_length(), jwt.get_nbf_clock_skew()) == (60, 30)


def test_negative_skew_and_zero_validity_are_allowed_for_testing_verifiers() -> None:
    jwt = AuthJWT(validity_length=0, nbf_clock_skew=-10)
    claims = jwt.claims(clock=FixedClock(100))
    assert claims == {"exp": 100, "nbf": 110}


def test_claims_order_is_stable() -> None:
    jwt = AuthJWT(aud="a", sub="s", iss="i", additional_claims={"z": 1, "a": 2})
    assert list(json.loads(jwt.to_json_string(clock=FixedClock(NOW)))) == ["iss", "sub", "aud", "exp", "nbf", "z", "a"]


def test_system_clock_is_used_by_default() -> None:
    claims = AuthJWT().claims()
    assert isinstance(claims["exp"], int)
    assert isinstance(claims["nbf"], int)
    assert claims["exp"] - claims["nbf"] == DEFAULT_VALIDITY_LENGTH


@pytest.mark.parametrize("name", sorted(STANDARD_CLAIMS))
def test_standard_claim_names_refused_in_additional_claims(name: str) -> None:
    jwt = _jwt()
    with pytest.raises(InvalidAdditionalClaim, match=name):
        jwt.set_additional_claims({"custom": 1, name: "x"})
    # Nothing changed on error.
    assert jwt.get_additional_claims() == {"scope": "api", "org_id": "00D000000000001AAA"}


def test_standard_claims_are_the_rfc7519_registered_names() -> None:
    assert frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}) == STANDARD_CLAIMS


def test_claim_names_are_case_sensitive() -> None:
    jwt = AuthJWT(additional_claims={"EXP": "custom"})
    assert jwt.get_additional_claims() == {"EXP": "custom"}


def test_non_string_claim_name_refused() -> None:
    with pytest.raises(InvalidAdditionalClaim, match="names must be strings"):
        AuthJWT().set_additional_claims({1: "x"})  # type: ignore[dict-item]  # the runtime check is under test


@pytest.mark.parametrize(
    ("value", "type_name"),
    [({1, 2}, "set"), (object(), "object"), (float("nan"), "float"), (b"raw", "bytes"), ({"k": {1, 2}}, "dict")],
)
def test_non_json_claim_value_gives_a_clear_error(value: object, type_name: str) -> None:
    with pytest.raises(InvalidAdditionalClaim) as info:
        AuthJWT().set_additional_claims({"custom": value})
    assert "custom" in info.value.reason
    assert type_name in info.value.reason
    assert info.value.code == "invalid_additional_claim"


def test_circular_claim_value_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(InvalidAdditionalClaim, match="'custom'"):
        AuthJWT().set_additional_claims({"custom": loop})


def test_additional_claims_are_copied_in_and_out() -> None:
    params: dict[str, object] = {"recordId": "001000000000001AAA"}
    given: dict[str, object] = {"parameters": params}
    jwt = AuthJWT(additional_claims=given)
    params["recordId"] = "changed"
    returned = jwt.get_additional_claims()
    returned["parameters"] = "changed too"
    assert jwt.get_additional_claims() == {"parameters": {"recordId": "001000000000001AAA"}}


def test_set_additional_claims_none_clears() -> None:
    jwt = _jwt()
    jwt.set_additional_claims(None)
    assert jwt.get_additional_claims() == {}


def test_clone_is_independent() -> None:
    original = _jwt()
    twin = original.clone()
    assert twin.to_json_string(clock=FixedClock(NOW)) == original.to_json_string(clock=FixedClock(NOW))
    twin.set_sub("someone@else.example")
    twin.set_validity_length(10)
    twin.set_additional_claims({"scope": "other"})
    assert original.get_sub() == "user@example.com"
    assert original.get_validity_length() == DEFAULT_VALIDITY_LENGTH
    assert original.get_additional_claims()["scope"] == "api"


@pytest.mark.parametrize("bad", [True, 1.5, "60", None])
def test_validity_and_skew_must_be_integers(bad: object) -> None:
    jwt = AuthJWT()
    with pytest.raises(ConfigurationError):
        jwt.set_validity_length(bad)  # type: ignore[arg-type]  # the runtime check is under test
    with pytest.raises(ConfigurationError):
        jwt.set_nbf_clock_skew(bad)  # type: ignore[arg-type]  # the runtime check is under test


def test_iss_must_be_a_string() -> None:
    with pytest.raises(ConfigurationError, match="iss"):
        AuthJWT().set_iss(42)  # type: ignore[arg-type]  # the runtime check is under test


def test_non_ascii_claims_are_utf8_json() -> None:
    jwt = AuthJWT(sub="zoë@example.com")
    assert '"sub":"zoë@example.com"' in jwt.to_json_string(clock=FixedClock(NOW))


# --- AuthJWS ---------------------------------------------------------------------------------------


def _verify(token: str, key: rsa.RSAPublicKey) -> None:
    header_b64, payload_b64, signature_b64 = token.split(".")
    key.verify(
        _b64url_decode(signature_b64),
        f"{header_b64}.{payload_b64}".encode("ascii"),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_compact_serialization_header_payload_and_signature(
    certificates: CertificateAndKeyManagement, cert_name: str, certificate: x509.Certificate
) -> None:
    jwt = _jwt()
    token = AuthJWS(jwt, cert_name, certificates=certificates, clock=FixedClock(NOW)).compact_serialization()
    header_b64, payload_b64, signature_b64 = token.split(".")
    assert _b64url_decode(header_b64) == b'{"alg":"RS256"}'
    assert header_b64 == "eyJhbGciOiJSUzI1NiJ9"
    assert _b64url_decode(payload_b64) == jwt.to_json_string(clock=FixedClock(NOW)).encode()
    assert "=" not in token
    assert len(_b64url_decode(signature_b64)) == 256
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    _verify(token, public_key)


def test_compact_serialization_is_byte_identical_to_an_independent_signer(
    certificates: CertificateAndKeyManagement, cert_name: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    # RS256 is deterministic: the signer shared with the outbound login (forcegate.core.jws_sign)
    # must produce, byte for byte, what a signer written directly on cryptography does.
    jwt = _jwt()
    token = AuthJWS(jwt, cert_name, certificates=certificates, clock=FixedClock(NOW)).compact_serialization()
    assert token == make_jws(jwt.to_json_string(clock=FixedClock(NOW)).encode(), rsa_key)
    assert token.split(".")[0] == b64url(AuthJWS.HEADER)
    signing_input = token.rsplit(".", 1)[0].encode("ascii")
    assert b64url(certificates.sign_rs256(cert_name, signing_input)) == token.rsplit(".", 1)[1]


def test_signature_does_not_verify_with_another_key(
    certificates: CertificateAndKeyManagement, cert_name: str, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    token = AuthJWS(_jwt(), cert_name, certificates=certificates).compact_serialization()
    with pytest.raises(InvalidSignature):
        _verify(token, other_rsa_key.public_key())


def test_string_payload_is_used_as_is(certificates: CertificateAndKeyManagement, cert_name: str) -> None:
    payload = '{"iss":"x", "custom":[1, 2]}'  # spacing kept: nothing is re-serialised
    token = AuthJWS(payload, cert_name, certificates=certificates).compact_serialization()
    assert _b64url_decode(token.split(".")[1]) == payload.encode()


def test_payload_is_fixed_at_construction(certificates: CertificateAndKeyManagement, cert_name: str) -> None:
    jwt = _jwt()
    jws = AuthJWS(jwt, cert_name, certificates=certificates, clock=FixedClock(NOW))
    jwt.set_sub("changed@example.com")
    payload = json.loads(_b64url_decode(jws.compact_serialization().split(".")[1]))
    assert payload["sub"] == "user@example.com"
    assert payload["exp"] == 1_700_000_300


def test_unknown_certificate_name(certificates: CertificateAndKeyManagement) -> None:
    with pytest.raises(ConfigurationError, match="No_Such_Cert"):
        AuthJWS(_jwt(), "No_Such_Cert", certificates=certificates)


def test_wrong_payload_type(certificates: CertificateAndKeyManagement, cert_name: str) -> None:
    with pytest.raises(ConfigurationError, match="payload"):
        AuthJWS(b"{}", cert_name, certificates=certificates)  # type: ignore[arg-type]  # runtime check under test


def test_unencodable_payload(certificates: CertificateAndKeyManagement, cert_name: str) -> None:
    with pytest.raises(ConfigurationError, match="UTF-8"):
        AuthJWS('{"x":"\ud800"}', cert_name, certificates=certificates)


def test_jws_clone_and_repr(certificates: CertificateAndKeyManagement, cert_name: str) -> None:
    jws = AuthJWS(_jwt(), cert_name, certificates=certificates)
    twin = jws.clone()
    assert twin is not jws
    assert twin.compact_serialization() == jws.compact_serialization()
    assert jws.compact_serialization() not in repr(jws)
    assert repr(jws) == f"AuthJWS(cert_dev_name={cert_name!r})"


# --- CertificateAndKeyManagement ------------------------------------------------------------------


def test_store_names_certificate_and_repr(
    certificates: CertificateAndKeyManagement, cert_name: str, certificate: x509.Certificate
) -> None:
    assert certificates.names() == [cert_name]
    assert certificates.certificate(cert_name) == certificate
    assert "PRIVATE" not in repr(certificates)
    assert cert_name in repr(certificates)


def test_duplicate_name_refused(
    certificates: CertificateAndKeyManagement,
    cert_name: str,
    rsa_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
) -> None:
    with pytest.raises(ConfigurationError, match="already exists"):
        certificates.add(cert_name, private_key=rsa_key, certificate=certificate)


def test_empty_name_refused(rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> None:
    with pytest.raises(ConfigurationError, match="Unique Name"):
        CertificateAndKeyManagement().add("", private_key=rsa_key, certificate=certificate)


def test_small_rsa_key_refused(make_certificate: CertificateFactory) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # the weak key under test
    with pytest.raises(ConfigurationError, match="1024"):
        CertificateAndKeyManagement().add("Small", private_key=small, certificate=make_certificate(small, "Small"))


def test_non_rsa_key_refused(make_certificate: CertificateFactory) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigurationError, match="RSA"):
        CertificateAndKeyManagement().add(
            "Ec",
            private_key=ec_key,  # type: ignore[arg-type]  # the runtime check is under test
            certificate=make_certificate(ec_key, "Ec"),
        )


def test_certificate_must_match_key(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, make_certificate: CertificateFactory
) -> None:
    store = CertificateAndKeyManagement()
    from_other = make_certificate(other_rsa_key, "other")
    with pytest.raises(ConfigurationError, match="public half"):
        store.add("Mismatch", private_key=rsa_key, certificate=from_other)
    assert store.names() == []


def test_sign_rs256_unknown_name() -> None:
    with pytest.raises(ConfigurationError, match="Missing_Name"):
        CertificateAndKeyManagement().sign_rs256("Missing_Name", b"x")
    with pytest.raises(ConfigurationError, match="Missing_Name"):
        CertificateAndKeyManagement().sign_jws("Missing_Name", b"{}")
    with pytest.raises(ConfigurationError, match="Missing_Name"):
        CertificateAndKeyManagement().certificate("Missing_Name")


@dataclass(frozen=True)
class _Entry:
    alias: str
    private_key: object
    certificate: object


@dataclass(frozen=True)
class _Keystore:
    entries: tuple[_Entry, ...]


def test_from_keystore_imports_key_entries_and_skips_others(
    rsa_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    other_rsa_key: rsa.RSAPrivateKey,
    make_certificate: CertificateFactory,
) -> None:
    other_cert = make_certificate(other_rsa_key, "other")
    keystore = _Keystore(
        entries=(
            _Entry("signing_2025", rsa_key, certificate),
            _Entry("signing_2026", other_rsa_key, other_cert),
            _Entry("trusted_ca", None, certificate),  # a trusted-certificate entry: no key
            _Entry("orphan_key", rsa_key, None),
        )
    )
    store = CertificateAndKeyManagement.from_keystore(keystore)
    assert store.names() == ["signing_2025", "signing_2026"]
    assert store.certificate("signing_2026") == other_cert


def test_from_keystore_refuses_non_rsa_entries(make_certificate: CertificateFactory) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keystore = _Keystore(entries=(_Entry("ec_entry", ec_key, make_certificate(ec_key, "ec")),))
    with pytest.raises(ConfigurationError, match="ec_entry"):
        CertificateAndKeyManagement.from_keystore(keystore)
