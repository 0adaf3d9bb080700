"""The notification settings: ``notify_url``, ``notify_secret``, ``notify_timeout``, checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from forcegate.errors import ConfigurationError
from forcegate.settings import load_settings

HOOK = "https://hooks.example.com/services/T000/B000/XXXXSECRETPATH?token=QUERYSECRET"
SECRET = "webhook-signing-secret-0123"


def test_off_by_default() -> None:
    settings = load_settings({})
    assert (settings.notify_url, settings.notify_secret, settings.notify_timeout) == (None, None, 5)


def test_a_webhook_url_and_secret_are_kept_out_of_repr() -> None:
    settings = load_settings(
        {"FORCEGATE_NOTIFY_URL": HOOK, "FORCEGATE_NOTIFY_SECRET": SECRET, "FORCEGATE_NOTIFY_TIMEOUT": "12"}
    )
    assert (settings.notify_url, settings.notify_secret, settings.notify_timeout) == (HOOK, SECRET, 12)
    shown = repr(settings)
    for secret in ("SECRETPATH", "QUERYSECRET", SECRET):
        assert secret not in shown


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]:8080/", "https://10.0.0.5/hook"]
)
def test_plain_http_only_to_loopback(url: str) -> None:
    assert load_settings({"FORCEGATE_NOTIFY_URL": url}).notify_url == url


def test_empty_values_turn_notifications_off() -> None:
    settings = load_settings({"FORCEGATE_NOTIFY_URL": "", "FORCEGATE_NOTIFY_SECRET": ""})
    assert (settings.notify_url, settings.notify_secret) == (None, None)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FORCEGATE_NOTIFY_URL": "http://hooks.example.com/SECRETPATH"}, "plain http to a non-loopback host"),
        ({"FORCEGATE_NOTIFY_URL": "ftp://hooks.example.com/SECRETPATH"}, "must be an https:// URL"),
        ({"FORCEGATE_NOTIFY_URL": "hooks.example.com/SECRETPATH"}, "must be an https:// URL"),
        ({"FORCEGATE_NOTIFY_URL": "https:///SECRETPATH"}, "must be an https:// URL"),
        ({"FORCEGATE_NOTIFY_URL": "https://hooks.example.com:99999/SECRETPATH"}, "not a valid URL"),
        ({"FORCEGATE_NOTIFY_URL": "https://hooks.example.com/SECRETPATH#frag"}, "without fragment"),
        ({"FORCEGATE_NOTIFY_URL": "https://hooks.example.com/SECRET PATH"}, "without fragment or spaces"),
        ({"FORCEGATE_NOTIFY_URL": "https://hooks.example.com/" + "SECRETPATH" * 210}, "at most 2048"),
        ({"FORCEGATE_NOTIFY_URL": HOOK, "FORCEGATE_NOTIFY_SECRET": "SECRETshort"}, "at least 16 characters"),
        ({"FORCEGATE_NOTIFY_URL": HOOK, "FORCEGATE_NOTIFY_SECRET": "SECRET with spaces inside"}, "without whitespace"),
        ({"FORCEGATE_NOTIFY_SECRET": "SECRET-without-a-url-0123"}, "set both, or neither"),
        ({"FORCEGATE_NOTIFY_URL": HOOK, "FORCEGATE_NOTIFY_TIMEOUT": "0"}, "between 1 and 30"),
        ({"FORCEGATE_NOTIFY_URL": HOOK, "FORCEGATE_NOTIFY_TIMEOUT": "31"}, "between 1 and 30"),
        ({"FORCEGATE_NOTIFY_URL": HOOK, "FORCEGATE_NOTIFY_TIMEOUT": "soon"}, "invalid value"),
        ({"FORCEGATE_NOTIFY_URI": HOOK}, "did you mean FORCEGATE_NOTIFY_URL"),
    ],
)
def test_a_bad_value_is_refused_at_start_without_being_quoted(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ)
    assert message in caught.value.reason
    assert "SECRET" not in caught.value.reason


def test_from_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "forcegate.toml"
    config.write_text(f'notify_url = "{HOOK}"\nnotify_secret = "{SECRET}"\nnotify_timeout = 3\n')
    settings = load_settings({"FORCEGATE_CONFIG": str(config)})
    assert (settings.notify_url, settings.notify_secret, settings.notify_timeout) == (HOOK, SECRET, 3)
