"""Settings: defaults, the TOML file, FORCEGATE_* variables and overrides, in that order of strength."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from forcegate.errors import ConfigurationError
from forcegate.settings import Settings, environment_warnings, load_settings


def test_defaults_are_the_embedded_default() -> None:
    settings = load_settings({})
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.data_dir == Path(".forcegate")
    assert settings.effective_database_url == f"sqlite:///{Path('.forcegate').resolve() / 'forcegate.db'}"
    assert settings.audiences == {"http://127.0.0.1:8000", "http://127.0.0.1:8000/oauth2/token"}
    assert settings.token_endpoint == "http://127.0.0.1:8000/oauth2/token"
    assert settings.secure_cookies


def test_environment_over_file_over_defaults(tmp_path: Path) -> None:
    config = tmp_path / "forcegate.toml"
    config.write_text(
        'public_url = "https://svc.example.com/"\ntoken_lifetime = 120\nextra_audiences = ["https://a.example"]\n'
    )
    settings = load_settings({"FORCEGATE_CONFIG": str(config), "FORCEGATE_TOKEN_LIFETIME": "90"})
    assert settings.public_url == "https://svc.example.com"  # trailing slash dropped
    assert settings.token_lifetime == 90
    assert settings.audiences == {
        "https://svc.example.com",
        "https://svc.example.com/oauth2/token",
        "https://a.example",
    }


def test_overrides_win_and_host_port_derive_the_public_url() -> None:
    settings = load_settings({"FORCEGATE_PORT": "9000"}, port=9100, data_dir=Path("/srv/forcegate"))
    assert settings.port == 9100
    assert settings.public_url == "http://127.0.0.1:9100"
    assert settings.data_dir == Path("/srv/forcegate")
    assert load_settings({}, host="0.0.0.0").public_url == "http://127.0.0.1:8000"  # noqa: S104


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FORCEGATE_PUBLIC_URL": "http://svc.example.com"}, "plain http"),
        ({"FORCEGATE_PUBLIC_URL": "ftp://svc.example.com"}, "not an http(s) URL"),
        ({"FORCEGATE_PUBLIC_URL": "https://svc.example.com/?a=1"}, "query"),
        ({"FORCEGATE_LEEWAY": "301"}, "leeway"),
        ({"FORCEGATE_LEEWAY": "soon"}, "invalid value"),
        ({"FORCEGATE_TOKEN_LIFETIME": "0"}, "positive"),
        ({"FORCEGATE_WORKERS": "0"}, "workers"),
        ({"FORCEGATE_PORT": "70000"}, "port"),
        ({"FORCEGATE_DEVELOPMENT": "maybe"}, "invalid value"),
        ({"FORCEGATE_CANVAS_LANDING_PATH": "//evil.example"}, "canvas_landing_path"),
        ({"FORCEGATE_REDIS_URL": "redis://127.0.0.1:6379/0"}, "not PostgreSQL"),
        (
            {"FORCEGATE_REDIS_URL": "redis://127.0.0.1:6379/0", "FORCEGATE_DATABASE_URL": "sqlite:////tmp/x.db"},
            "not PostgreSQL",
        ),
        ({"FORCEGATE_DATABASE_URL": "postgresql://db.internal/forcegate"}, "encryption_key"),
        ({"FORCEGATE_DATABASE_POOL_SIZE": "0"}, "database_pool_size"),
        ({"FORCEGATE_AUDIT_RETENTION_DAYS": "-1"}, "audit_retention_days"),
        ({"FORCEGATE_REDIS_PREFIX": "a b"}, "redis_prefix"),
        ({"FORCEGATE_TOKEN_RATE_LIMIT": "-1"}, "token_rate_limit"),
        ({"FORCEGATE_TOKEN_RATE_LIMIT": "1000001"}, "token_rate_limit"),
        ({"FORCEGATE_TOKEN_RATE_LIMIT": "ten"}, "invalid value"),
        ({"FORCEGATE_MIGRATE": "perhaps"}, "invalid value"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ)
    assert message in caught.value.reason


def test_development_mode_allows_plain_http_and_relaxes_cookies() -> None:
    settings = load_settings({"FORCEGATE_PUBLIC_URL": "http://dev.local:8000", "FORCEGATE_DEVELOPMENT": "1"})
    assert settings.development
    assert not settings.secure_cookies
    # https keeps Secure cookies even in development mode.
    assert load_settings({"FORCEGATE_PUBLIC_URL": "https://dev.local", "FORCEGATE_DEVELOPMENT": "yes"}).secure_cookies


def test_config_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_settings({"FORCEGATE_CONFIG": str(tmp_path / "missing.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("public_url = \n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings({"FORCEGATE_CONFIG": str(bad)})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('publik_url = "https://x"\n')
    with pytest.raises(ConfigurationError, match="publik_url"):
        load_settings({"FORCEGATE_CONFIG": str(unknown)})


def test_the_encryption_key_is_kept_out_of_repr() -> None:
    settings = Settings(encryption_key="c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcyEhISE=")
    assert "c2VjcmV0" not in repr(settings)


def test_scale_out_settings() -> None:
    settings = load_settings(
        {
            "FORCEGATE_DATABASE_URL": "postgresql://db.internal/forcegate",
            "FORCEGATE_ENCRYPTION_KEY": "A" * 43,
            "FORCEGATE_REDIS_URL": "rediss://cache.internal:6380/2",
            "FORCEGATE_REDIS_PREFIX": "fg-prod:",
            "FORCEGATE_DATABASE_POOL_SIZE": "25",
            "FORCEGATE_MIGRATE": "1",
            "FORCEGATE_AUDIT_RETENTION_DAYS": "0",
        }
    )
    assert settings.effective_database_url == "postgresql://db.internal/forcegate"
    assert settings.redis_url == "rediss://cache.internal:6380/2"
    assert (settings.redis_prefix, settings.database_pool_size) == ("fg-prod:", 25)
    assert settings.migrate is True
    assert settings.audit_retention_days == 0
    defaults = load_settings({})
    assert (defaults.redis_url, defaults.migrate, defaults.audit_retention_days) == (None, False, 365)


def test_token_rate_limit() -> None:
    assert load_settings({}).token_rate_limit == 3000
    assert load_settings({"FORCEGATE_TOKEN_RATE_LIMIT": "0"}).token_rate_limit == 0  # off
    assert load_settings({"FORCEGATE_TOKEN_RATE_LIMIT": "30"}).token_rate_limit == 30


def test_log_format() -> None:
    assert load_settings({}).log_format == "text"
    assert load_settings({"FORCEGATE_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigurationError, match="log_format must be one of text, json"):
        load_settings({"FORCEGATE_LOG_FORMAT": "logfmt"})


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("FORCEGATE_ENCRYPTON_KEY", "FORCEGATE_ENCRYPTION_KEY"),  # a generated key would seal the secrets
        ("FORCEGATE_DATABSE_URL", "FORCEGATE_DATABASE_URL"),  # a local SQLite beside the shared database
        ("FORCEGATE_TRUSTED_PROXY", "FORCEGATE_TRUSTED_PROXIES"),  # every client would be the proxy
        ("FORCEGATE_PUBLICURL", "FORCEGATE_PUBLIC_URL"),
        ("FORCEGATE_WORKER", "FORCEGATE_WORKERS"),
        ("forcegate_public_url", "FORCEGATE_PUBLIC_URL"),  # names are upper-case
    ],
)
def test_a_misspelt_setting_is_refused_naming_the_setting(variable: str, meant: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: "s3cr3t-value"})
    assert caught.value.reason.startswith(f"{variable} is not a setting: did you mean {meant}?")
    assert "s3cr3t-value" not in caught.value.reason


def test_a_file_variant_of_a_setting_is_refused() -> None:
    # Docker's *_FILE convention: ignored, it would leave the encryption key to be generated.
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"FORCEGATE_ENCRYPTION_KEY_FILE": "/run/secrets/forcegate-key"})
    assert caught.value.reason == (
        "FORCEGATE_ENCRYPTION_KEY_FILE is not a setting: forcegate reads no *_FILE variables; "
        "set FORCEGATE_ENCRYPTION_KEY to the file's content"
    )


def test_other_unknown_variables_are_only_reported() -> None:
    environ = {
        "FORCEGATE_DB_URL": "x",  # another word, not a typo: a hint
        "FORCEGATE_IMAGE_TAG": "2026.12",  # a deployment's own: no hint
        "FORCEGATE_TEST_DATABSE_URL": "x",  # near a tool's variable, not a setting's: reported, not refused
        "FORCEGATE_TEST_DATABASE_URL": "x",  # the tests', the benchmarks' and the fuzzers' own are known
        "FORCEGATE_TEST_REDIS_URL": "x",
        "FORCEGATE_TEST_SERVERS": "private",
        "FORCEGATE_VECTORS": "x",
        "FORCEGATE_BENCH_MODE": "raw",
        "FORCEGATE_FUZZ_STRICT": "1",
        "FORCEGATE_PORT": "9000",
        "OTHER_FORCEGATE_THING": "x",  # not the prefix
    }
    assert load_settings(environ).port == 9000
    assert environment_warnings(environ) == [
        "FORCEGATE_DB_URL is not a forcegate setting and is ignored (did you mean FORCEGATE_DATABASE_URL?)",
        "FORCEGATE_IMAGE_TAG is not a forcegate setting and is ignored",
        "FORCEGATE_TEST_DATABSE_URL is not a forcegate setting and is ignored "
        "(did you mean FORCEGATE_TEST_DATABASE_URL?)",
    ]
    assert environment_warnings({f"FORCEGATE_{f.name.upper()}": "" for f in fields(Settings)}) == []
