"""Settings are read from the environment in one place and misspelt values stop the start."""

import pytest

from caremap.settings import load_settings


def test_defaults_and_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CAREMAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:5432/x")
    monkeypatch.setenv("TIME_ZONE", "America/Chicago")
    monkeypatch.setenv("REFERRAL_STALE_DAYS", "10")
    monkeypatch.setenv("LISTING_STALE_DAYS", "365")
    settings = load_settings(env_file=None)
    assert (settings.listing_stale_days, settings.listing_reminder_days) == (365, 14)
    assert settings.database_url == "postgres://u@127.0.0.1:5432/x"
    assert settings.time_zone == "America/Chicago"
    assert settings.stale_days == 10
    assert settings.mail_drainer == "inprocess"
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # a local key, private


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMTP_TLS", "ssl"),
        ("MAIL_DRAINER", "worker"),
        ("SEARCH_DRAINER", "nowhere"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
        ("LISTING_STALE_DAYS", "0"),
        ("LISTING_FLAG_THRESHOLD", "-1"),
        ("LISTING_REMINDER_DAYS", "200"),
        ("MAIL_FROM", "caremap <a@b.example>\r\nBcc: x@y.example"),
        ("MAIL_FROM", "not an address"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("REPORT_RATE_LIMIT", "lots"),
        ("DATABASE_URL", "mysql://x@127.0.0.1/db"),
    ],
)
def test_misspelt_settings_are_refused_by_name(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv("CAREMAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        load_settings(env_file=None)
