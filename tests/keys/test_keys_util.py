"""Certificate vetting shared by every loader: a serial <= 0 and an unreadable name are refused."""

from __future__ import annotations

from typing import Literal

import pytest

from forcegate.errors import KeyMaterialError
from forcegate.keys import KeyEntry
from forcegate.keys._util import (
    build_chain,
    certificate_name,
    common_name,
    load_certificate,
    vet_certificate,
)
from keys.keys_support import (
    WARNING_FILTERS,
    as_pem,
    odd_certificate_der,
    odd_name_der,
    unvetted_certificate,
    warnings_filter,
)

SERIAL = "certificate serial number is not positive"
NOT_UTF8 = b"\x0c\x07\xff\xfe\xfd\xfc\xfb\xfa\xf9"  # a UTF8String CN that is not UTF-8
ISSUER_NOT_UTF8 = b"\x0c\x06\xff\xfe\xfd\xfc\xfb\xfa"
BIT_STRING = b"\x03\x07\x00subjec"  # a BIT STRING under the CN OID (only x500UniqueIdentifier may hold one)


@pytest.mark.parametrize("action", WARNING_FILTERS)
@pytest.mark.parametrize("serial", [0, -1, -128])
@pytest.mark.parametrize("pem", [False, True])
def test_a_serial_that_is_not_positive_is_refused_whatever_the_warnings_filter(
    ec_entry: KeyEntry, action: Literal["error", "ignore"], serial: int, pem: bool
) -> None:
    assert ec_entry.private_key is not None
    der = odd_certificate_der(ec_entry.private_key, serial=serial)
    with warnings_filter(action), pytest.raises(KeyMaterialError, match=SERIAL):
        load_certificate(as_pem(der) if pem else der, pem=pem)


def test_a_positive_serial_loads(ec_entry: KeyEntry) -> None:
    assert ec_entry.private_key is not None
    for serial in (1, 127):
        certificate = load_certificate(odd_certificate_der(ec_entry.private_key, serial=serial))
        assert certificate.serial_number == serial
        assert common_name(certificate) == "subject"


@pytest.mark.parametrize(
    ("which", "cn", "match"),
    [
        ("subject", NOT_UTF8, "certificate subject name does not parse: .* not UTF-8"),
        ("issuer", ISSUER_NOT_UTF8, "certificate issuer name does not parse"),
        ("subject", BIT_STRING, "certificate subject name has a BIT STRING attribute"),
        ("subject", b"\x02\x07\x01\x02\x03\x04\x05\x06\x07", "subject name does not parse: .* a type"),
    ],
)
def test_a_name_that_does_not_parse_is_refused(
    ec_entry: KeyEntry, which: Literal["subject", "issuer"], cn: bytes, match: str
) -> None:
    assert ec_entry.private_key is not None
    der = odd_name_der(ec_entry.private_key, which, cn)
    with pytest.raises(KeyMaterialError, match=match):
        load_certificate(der)
    # Each reader of the name, on a certificate that skipped the loaders, says the same.
    certificate = unvetted_certificate(der)
    for read in (vet_certificate, lambda c: certificate_name(c, which), lambda c: build_chain(c, [c])):
        with pytest.raises(KeyMaterialError, match=match):
            read(certificate)
    if which == "subject":
        with pytest.raises(KeyMaterialError, match=match):
            common_name(certificate)


def test_not_a_certificate_stays_a_value_error() -> None:
    # The loaders try another format on ValueError; only a certificate they refuse is KeyMaterialError.
    with pytest.raises(ValueError, match="error parsing asn1 value"):
        load_certificate(b"\x30\x03\x02\x01\x01")
