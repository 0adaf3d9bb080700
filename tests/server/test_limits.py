"""The connection limits decided from the settings and the open-file limit."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from forcegate.errors import ConfigurationError
from forcegate.server.limits import FILE_RESERVE, ConnectionLimits, connection_limits, raise_open_file_limit
from forcegate.settings import Settings, load_settings

KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # any 32 bytes: PostgreSQL settings need a key


def test_the_defaults() -> None:
    limits = connection_limits(Settings(), 20_000)
    assert limits == ConnectionLimits(
        header_read_timeout=10.0, body_read_timeout=30.0, max_header_bytes=32 * 1024, max_connections=20_000 - 256
    )
    assert FILE_RESERVE == 256


def test_the_cap_keeps_a_descriptor_per_postgresql_connection_of_the_pool() -> None:
    settings = Settings(database_url="postgresql://db/forcegate", encryption_key=KEY, database_pool_size=40)
    assert connection_limits(settings, 1024).max_connections == 1024 - 256 - 40


def test_an_unlimited_process_has_no_cap_unless_one_is_set() -> None:
    assert connection_limits(Settings(), None).max_connections == 0
    assert connection_limits(Settings(max_connections=500), None).max_connections == 500


def test_an_explicit_cap_is_taken_when_it_fits() -> None:
    settings = Settings(max_connections=700, header_read_timeout=3, body_read_timeout=4, max_header_bytes=8192)
    assert connection_limits(settings, 1024) == ConnectionLimits(
        header_read_timeout=3.0, body_read_timeout=4.0, max_header_bytes=8192, max_connections=700
    )


def test_a_cap_over_the_open_file_limit_is_refused_naming_the_limit() -> None:
    with pytest.raises(ConfigurationError, match=r"max_connections 800 does not fit the open-file limit 1024"):
        connection_limits(Settings(max_connections=800), 1024)


def test_a_limit_below_the_reserve_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"open-file limit \(200\) leaves no descriptor"):
        connection_limits(Settings(), 200)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("header_read_timeout", 0, "header_read_timeout must be between 1 and 300"),
        ("header_read_timeout", 301, "header_read_timeout must be between 1 and 300"),
        ("body_read_timeout", 0, "body_read_timeout must be between 1 and 3600"),
        ("body_read_timeout", 3601, "body_read_timeout must be between 1 and 3600"),
        ("max_header_bytes", 1023, "max_header_bytes must be between 1024 and 1048576"),
        ("max_header_bytes", 1024 * 1024 + 1, "max_header_bytes must be between 1024 and 1048576"),
        ("max_connections", -1, "max_connections must be 0"),
    ],
)
def test_out_of_range_settings_are_refused(field: str, value: int, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings({}, **{field: value})


@pytest.fixture
def file_limit() -> Iterator[tuple[int, int]]:
    """The process's RLIMIT_NOFILE, restored after the test."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        yield before
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_the_soft_file_limit_is_raised_to_the_hard_one(file_limit: tuple[int, int]) -> None:
    _, hard = file_limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(512, hard), hard))
    now = raise_open_file_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    assert now == (None if hard == resource.RLIM_INFINITY else hard)
