"""Shared key material (generated once per session: RSA key generation is slow) and a keytool runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from forcegate.keys import KeyEntry, generate_certificate
from keys.keys_support import NOW, PASSWORD, Chain, KeytoolRunner, KeytoolStores, entry_for, make_certificate


@pytest.fixture(scope="session")
def rsa_entry() -> KeyEntry:
    return generate_certificate(cn="forcegate_test", now=NOW, days=365)


@pytest.fixture(scope="session")
def second_rsa_entry() -> KeyEntry:
    return generate_certificate(cn="forcegate_other", now=NOW, days=30)


@pytest.fixture(scope="session")
def ec_entry() -> KeyEntry:
    return entry_for(ec.generate_private_key(ec.SECP256R1()), cn="ec_p256")


@pytest.fixture(scope="session")
def ed25519_entry() -> KeyEntry:
    return entry_for(ed25519.Ed25519PrivateKey.generate(), cn="ed25519")


@pytest.fixture(scope="session")
def chain() -> Chain:
    """root -> intermediate -> leaf, EC keys to keep it fast."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_certificate(root_key, cn="Root", ca=True)
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    intermediate = make_certificate(
        intermediate_key, cn="Intermediate", issuer_key=root_key, issuer_name=root.subject, ca=True
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_certificate(leaf_key, cn="Leaf", issuer_key=intermediate_key, issuer_name=intermediate.subject)
    return Chain(root_key, root, intermediate, leaf_key, leaf)


@pytest.fixture(scope="session")
def keytool() -> str:
    """Java's keytool. Missing keytool is a failure, not a skip: the interop checks must run."""
    path = shutil.which("keytool") or "/usr/bin/keytool"
    assert Path(path).is_file(), "Java keytool is required for the keystore interoperability tests"
    return path


@pytest.fixture(scope="session")
def run_keytool(keytool: str) -> KeytoolRunner:
    """Run keytool with English output; returns stdout+stderr, fails the test on a non-zero exit."""

    def run(*args: str, expect_ok: bool = True) -> str:
        command = [keytool, "-J-Duser.language=en", "-J-Duser.country=US", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        output = result.stdout + result.stderr
        if expect_ok:
            assert result.returncode == 0, f"keytool {' '.join(args[:1])} failed:\n{output}"
        else:
            assert result.returncode != 0, f"keytool {' '.join(args[:1])} unexpectedly succeeded:\n{output}"
        return output

    return run


@pytest.fixture(scope="session")
def keytool_stores(
    tmp_path_factory: pytest.TempPathFactory, run_keytool: KeytoolRunner, rsa_entry: KeyEntry
) -> KeytoolStores:
    """A JKS made by keytool (a 2048-bit key pair plus a trusted certificate) and its PKCS#12 copy."""
    from cryptography.hazmat.primitives.serialization import Encoding

    directory = tmp_path_factory.mktemp("keytool")
    jks = directory / "made-by-keytool.jks"
    pkcs12 = directory / "made-by-keytool.p12"
    trusted = directory / "trusted.crt"
    assert rsa_entry.certificate is not None
    trusted.write_bytes(rsa_entry.certificate.public_bytes(Encoding.PEM))
    password = PASSWORD.decode()
    common = ["-keystore", str(jks), "-storepass", password, "-storetype", "JKS"]
    run_keytool(
        "-genkeypair", *common, "-keypass", password, "-alias", "KeytoolKey", "-keyalg", "RSA", "-keysize", "2048",
        "-sigalg", "SHA256withRSA", "-dname", "CN=keytool, OU=00D000000000001, O=Salesforce.com", "-validity", "365",
    )  # fmt: skip
    run_keytool("-importcert", "-noprompt", *common, "-alias", "TrustedOne", "-file", str(trusted))
    run_keytool(
        "-importkeystore", "-srckeystore", str(jks), "-srcstoretype", "JKS", "-srcstorepass", password,
        "-destkeystore", str(pkcs12), "-deststoretype", "PKCS12", "-deststorepass", password,
    )  # fmt: skip
    return KeytoolStores(jks=jks, pkcs12=pkcs12, trusted_cert_pem=trusted)
