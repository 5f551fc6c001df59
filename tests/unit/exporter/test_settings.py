"""Settings validation: each bad value is rejected with the env name, the flag and a fix."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from queue_exporter.settings import (
    ConfigError,
    ExporterSettings,
    RedisSettings,
    add_setting_flags,
    load_settings,
    mask_url,
)


def load(monkeypatch: pytest.MonkeyPatch, *argv: str, **env: str) -> ExporterSettings:
    for key in [k for k in os.environ if k.startswith("AI_AGENTS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    add_setting_flags(parser, ExporterSettings)
    return load_settings(ExporterSettings, parser.parse_args(argv))


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch)
    assert settings.queues == ("enhancement:queue", "enhancement:dlq")
    assert (settings.exporter_host, settings.exporter_port) == ("0.0.0.0", 9808)
    assert settings.scrape_deadline_seconds == 3.0
    assert settings.log_level == "INFO"


def test_env_is_read_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch,
        "--exporter-port",
        "9999",
        AI_AGENTS_EXPORTER_PORT="9000",
        AI_AGENTS_QUEUES=" a:queue , b ",
        AI_AGENTS_LOG_LEVEL="debug",
    )
    assert settings.exporter_port == 9999
    assert settings.queues == ("a:queue", "b")
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "names", "hint"),
    [
        ({"AI_AGENTS_REDIS_URL": "http://h:6379"}, "AI_AGENTS_REDIS_URL (--redis-url)", "redis://"),
        ({"AI_AGENTS_REDIS_URL": "redis://h:port/0"}, "AI_AGENTS_REDIS_URL", "not a valid URL"),
        ({"AI_AGENTS_REDIS_URL": "redis://h:6379/x"}, "AI_AGENTS_REDIS_URL", "database number"),
        ({"AI_AGENTS_QUEUES": " , "}, "AI_AGENTS_QUEUES (--queues)", "empty"),
        ({"AI_AGENTS_QUEUES": "a b"}, "AI_AGENTS_QUEUES", "invalid queue name"),
        ({"AI_AGENTS_QUEUES": "a,a"}, "AI_AGENTS_QUEUES", "listed twice"),
        ({"AI_AGENTS_EXPORTER_PORT": "0"}, "AI_AGENTS_EXPORTER_PORT (--exporter-port)", "1-65535"),
        ({"AI_AGENTS_EXPORTER_PORT": "http"}, "AI_AGENTS_EXPORTER_PORT", "1-65535"),
        ({"AI_AGENTS_SCRAPE_DEADLINE_SECONDS": "10"}, "AI_AGENTS_SCRAPE_DEADLINE_SECONDS", "below"),
        (
            {"AI_AGENTS_SCRAPE_DEADLINE_SECONDS": "0"},
            "AI_AGENTS_SCRAPE_DEADLINE_SECONDS",
            "above 0",
        ),
        ({"AI_AGENTS_LOG_LEVEL": "loud"}, "AI_AGENTS_LOG_LEVEL (--log-level)", "DEBUG"),
        (
            {"AI_AGENTS_REDIS_PASSWORD_FILE": "/nonexistent"},
            "AI_AGENTS_REDIS_PASSWORD_FILE",
            "file",
        ),
    ],
)
def test_invalid_settings_name_the_setting_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], names: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, **env)
    assert names in str(caught.value)
    assert hint in str(caught.value)


def test_password_in_two_places_is_rejected_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            monkeypatch,
            AI_AGENTS_REDIS_URL="redis://:url-secret@h:6379/0",
            AI_AGENTS_REDIS_PASSWORD="env-secret",
        )
    message = str(caught.value)
    assert "more than one place" in message
    assert "url-secret" not in message
    assert "env-secret" not in message


def test_bad_url_error_masks_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, AI_AGENTS_REDIS_URL="redis://user:hunter2@h:badport/0")
    assert "hunter2" not in str(caught.value)
    assert "user:***@" in str(caught.value)


def test_password_file_is_read_and_stripped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    settings = load(monkeypatch, AI_AGENTS_REDIS_PASSWORD_FILE=str(secret))
    assert settings.password() == "s3cret"
    assert settings.secrets() == ["s3cret"]
    assert "s3cret" not in repr(settings)


def test_queuectl_settings_ignore_exporter_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_AGENTS_EXPORTER_PORT", "not-a-port")
    assert RedisSettings().queues[0] == "enhancement:queue"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:p%40ss@h:6380/1", "rediss://user:***@h:6380/1"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://user@h:6379/0", "redis://user@h:6379/0"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
