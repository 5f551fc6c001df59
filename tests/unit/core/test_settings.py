"""Settings validation: each bad value is rejected with the env name, the flag and a fix."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from queue_core.settings import (
    ConfigError,
    RedisSettings,
    SecretStr,
    SettingsError,
    add_setting_flags,
    load_settings,
    mask_url,
)
from queue_exporter.settings import ExporterSettings


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


@pytest.mark.parametrize(
    ("value", "port"), [(" 99 ", 99), ("9.0", 9), ("+80", 80), ("65535", 65535)]
)
def test_port_text_is_read_leniently_as_before(
    monkeypatch: pytest.MonkeyPatch, value: str, port: int
) -> None:
    assert load(monkeypatch, AI_AGENTS_EXPORTER_PORT=value).exporter_port == port


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9.5", "fractional part"),
        ("70000", "less than or equal to 65535"),
        ("", "unable to parse string as an integer"),
    ],
)
def test_bad_ports_keep_pydantics_wording(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(monkeypatch, AI_AGENTS_EXPORTER_PORT=value)


@pytest.mark.parametrize(("value", "message"), [("nan", "finite"), ("x", "valid number")])
def test_bad_deadlines(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(monkeypatch, AI_AGENTS_SCRAPE_DEADLINE_SECONDS=value)


def test_env_names_match_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, ai_agents_exporter_port="1234").exporter_port == 1234


def test_every_bad_field_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, AI_AGENTS_EXPORTER_PORT="0", AI_AGENTS_QUEUES="", AI_AGENTS_REDIS_URL="x")
    lines = str(caught.value).splitlines()
    assert [line.split(" ")[2] for line in lines] == [
        "AI_AGENTS_REDIS_URL",
        "AI_AGENTS_QUEUES",
        "AI_AGENTS_EXPORTER_PORT",
    ]


def test_settings_are_read_only_and_refuse_unknown_names() -> None:
    settings = RedisSettings(redis_url="redis://h:1/0")
    with pytest.raises(AttributeError):
        settings.redis_url = "redis://other:1/0"  # type: ignore[misc]
    with pytest.raises(TypeError, match="redis_uri"):
        RedisSettings(redis_uri="redis://h:1/0")


def test_code_can_pass_typed_values_and_repr_hides_passwords() -> None:
    settings = ExporterSettings(
        redis_url="redis://:in-url@h:1/0",
        queues=["a", "b"],
        exporter_port=9000,
        scrape_deadline_seconds=1,
    )
    assert settings.queues == ("a", "b")
    assert settings.scrape_deadline_seconds == 1.0
    assert settings == ExporterSettings(
        redis_url="redis://:in-url@h:1/0",
        queues="a,b",
        exporter_port="9000",
        scrape_deadline_seconds="1",
    )
    assert "in-url" not in repr(settings)
    secret = RedisSettings(redis_password="pw", redis_url="redis://h:1/0")
    assert secret.password() == "pw"
    assert "pw" not in repr(secret)
    assert "pw" not in str(secret.redis_password)


class Revealing:
    """Any object with a ``get_secret_value`` method (such as pydantic's SecretStr)."""

    def get_secret_value(self) -> str:
        return "pw"


@pytest.mark.parametrize("value", [Revealing(), b"pw", 42])
def test_a_password_is_a_string_or_our_secret_nothing_else(value: object) -> None:
    with pytest.raises(SettingsError, match="Input should be a valid string"):
        RedisSettings(redis_password=value, redis_url="redis://h:1/0")
    given = SecretStr("pw")
    assert RedisSettings(redis_password=given, redis_url="redis://h:1/0").redis_password is given


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cr/et+pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://:p@ss@word@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://user:a/b@c@h/0", "redis://user:***@h/0"),
        ('redis://:pa"ss\\word@h:6379/0', "redis://:***@h:6379/0"),
        ("redis://:a:b:c@h", "redis://:***@h"),
        (":pw/x@h:6379", ":***@h:6379"),  # no scheme: still masked
        ("localhost:6379", "localhost:6379"),
    ],
)
def test_mask_url_hides_passwords_with_slashes_and_at_signs(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cr/et+pw@127.0.0.1:6379/0",
        "redis://:12/s3cret@127.0.0.1:6379/0",
        "redis://u:s3cr/et@h:badport/0",
        "redis://:p@ss@h:port/0",
    ],
)
def test_bad_url_errors_never_quote_the_password(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, AI_AGENTS_REDIS_URL=url)
    message = str(caught.value)
    assert "AI_AGENTS_REDIS_URL" in message
    assert ":***@" in message
    for piece in ("s3cr", "et+pw", "s3cret", "ss@h"):
        assert piece not in message


def test_secrets_hold_the_url_password_encoded_and_decoded() -> None:
    settings = RedisSettings(redis_url="redis://:p%22w%5Cx%40y@h:6379/0")
    assert settings.secrets() == ["p%22w%5Cx%40y", 'p"w\\x@y']
    assert RedisSettings(redis_url="redis://:plain@h/0").secrets() == ["plain"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"\xff\xfe not utf-8", "not UTF-8"), (b"  \n", "is empty")],
)
def test_a_password_file_that_cannot_be_used_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, problem: str
) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, AI_AGENTS_REDIS_PASSWORD_FILE=str(secret))
    assert "AI_AGENTS_REDIS_PASSWORD_FILE (--redis-password-file)" in str(caught.value)
    assert problem in str(caught.value)


def test_an_unreadable_password_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory passes no is_file() check but also stands for any OSError on read
    # (EACCES cannot be produced for root, who runs these tests in CI containers).
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, AI_AGENTS_REDIS_PASSWORD_FILE=str(tmp_path))
    assert "AI_AGENTS_REDIS_PASSWORD_FILE" in str(caught.value)
    assert "not a readable file" in str(caught.value)


def test_a_queue_name_with_a_trailing_newline_is_refused_from_code_too() -> None:
    """``$`` matches before a final newline; the rule is a full match wherever it is checked."""
    with pytest.raises(SettingsError, match="invalid queue name"):
        RedisSettings(queues=["a\n"])
