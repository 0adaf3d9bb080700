"""Fixtures shared across the test tree (keys are slow to generate, so each is made once), and the run's servers."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import settings

import private_servers

# Shared, noisy machines: a per-example deadline only measures the neighbours. In CI the examples
# are derived from each test's name (derandomize), so a red run is reproducible, not a dice roll;
# locally they stay random to keep exploring.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

_SERVERS = pytest.StashKey[private_servers.RunServers]()


def pytest_configure(config: pytest.Config) -> None:
    # Before the first test (the support modules read FORCEGATE_TEST_* when called, not at import): a
    # private server's URL goes into the environment, for this process and the ones its tests start.
    config.stash[_SERVERS] = private_servers.prepare_run(os.environ)


def pytest_report_header(config: pytest.Config) -> str:
    return config.stash[_SERVERS].header()


def pytest_unconfigure(config: pytest.Config) -> None:
    servers = config.stash.get(_SERVERS, None)
    if servers is not None:
        servers.close()


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def weak_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # weak on purpose


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()
