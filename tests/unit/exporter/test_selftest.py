"""The selftest's own settings and helpers (its checks run against real Redis in
tests/integration/exporter/test_selftest.py)."""

from __future__ import annotations

import pytest

from queue_core.settings import SettingsError
from queue_exporter.selftest import SelftestSettings, _anonymous, _scrubber


def settings(**values: object) -> SelftestSettings:
    base: dict[str, object] = {"redis_password": None, "redis_password_file": None}
    return SelftestSettings(**(base | values))


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_metrics_url_skips_the_metrics_check(empty: str) -> None:
    assert settings(exporter_metrics_url=empty).exporter_metrics_url is None


def test_the_metrics_url_must_be_http_and_its_password_is_masked() -> None:
    with pytest.raises(SettingsError) as error:
        settings(exporter_metrics_url="ftp://user:hunter2@exporter/metrics")
    assert "http://" in str(error.value)
    assert "hunter2" not in str(error.value)
    assert "user:***@" in str(error.value)


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("redis://alice:pw%40x@redis:6379/0", None),
        ("redis://alice@redis:6379/0", "pw"),
        ("redis://redis:6379/0", "pw"),
    ],
)
def test_the_anonymous_client_sends_no_user_and_no_password(url: str, password: str | None) -> None:
    anonymous = _anonymous(settings(redis_url=url, redis_password=password))
    assert anonymous.redis_url == "redis://redis:6379/0"
    assert anonymous.password() is None
    assert anonymous.secrets() == []


def test_the_scrubber_removes_the_longest_secret_first() -> None:
    scrub = _scrubber(["pass", "password", ""])
    assert scrub("password and pass") == "*** and ***"
