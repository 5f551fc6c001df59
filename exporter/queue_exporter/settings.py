"""Configuration from ``AI_AGENTS_*`` environment variables, each also a command-line flag.

One pydantic-settings model per program is the single source of truth: the flags of
``queue-exporter`` and ``queuectl`` are generated from the model's fields (flag = env name
without the prefix, lower-case, dashes), so an env var can never lack its flag, and the field
descriptions double as ``--help`` text and as the "how to fix it" half of a config error.

Validation is strict on purpose: a typo in a URL or port should stop the process at start with
one clear line (exit code 2), not surface later as a stream of connection errors.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "AI_AGENTS_"
DEFAULT_QUEUES = ("enhancement:queue", "enhancement:dlq")
# Same pattern as the RedisQueue CRD: names that are safe in keys, labels and shells.
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, for logs and error messages.

    Works on strings that are not valid URLs too (it is called on bad input), because a
    malformed URL may still carry a real password.
    """
    return re.sub(r"(?<=://)([^/@]*?):([^/@]*)@", r"\1:***@", url)


class RedisSettings(BaseSettings):
    """What every program that talks to the queue needs: where Redis is and which queues."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    redis_url: str = Field(
        "redis://localhost:6379/0",
        description="Redis URL: redis://host:6379/0, rediss://host:6380/0 for TLS, "
        "or unix:///path/redis.sock",
    )
    redis_password: SecretStr | None = Field(
        None,
        description="Redis password (prefer AI_AGENTS_REDIS_PASSWORD_FILE: a flag shows in ps)",
    )
    redis_password_file: Path | None = Field(
        None, description="file holding the Redis password, e.g. a mounted Kubernetes Secret"
    )
    queues: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_QUEUES,
        description="comma-separated queue names, e.g. enhancement:queue,enhancement:dlq",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="log level: DEBUG, INFO, WARNING or ERROR"
    )

    @field_validator("redis_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            port = parts.port  # raises ValueError on a non-numeric or out-of-range port
        except ValueError as error:
            raise ValueError(f"{mask_url(value)!r} is not a valid URL ({error})") from None
        if parts.scheme not in REDIS_SCHEMES:
            raise ValueError(f"{mask_url(value)!r} must start with redis://, rediss:// or unix://")
        if parts.scheme == "unix":
            if not parts.path:
                raise ValueError(f"{mask_url(value)!r} names no socket path")
            return value
        if not parts.hostname:
            raise ValueError(f"{mask_url(value)!r} names no host")
        if port == 0:
            raise ValueError(f"{mask_url(value)!r} has port 0")
        database = parts.path.lstrip("/")
        if database and not database.isdigit():
            raise ValueError(f"{mask_url(value)!r}: the path must be a database number like /0")
        return value

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("queues")
    @classmethod
    def _check_queues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("the queue list is empty")
        bad = [name for name in value if not QUEUE_NAME.match(name)]
        if bad:
            raise ValueError(f"invalid queue name(s) {bad}: use letters, digits and _.:-")
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"queue(s) listed twice: {duplicates}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_password_source(self) -> Self:
        sources = [
            name
            for name, given in (
                ("redis_url", urlsplit(self.redis_url).password is not None),
                ("redis_password", self.redis_password is not None),
                ("redis_password_file", self.redis_password_file is not None),
            )
            if given
        ]
        if len(sources) > 1:
            raise ValueError(
                "the Redis password is given in more than one place "
                f"({', '.join(env_name(s) for s in sources)}): keep exactly one"
            )
        if self.redis_password_file is not None and not self.redis_password_file.is_file():
            raise ValueError(
                f"{env_name('redis_password_file')}: {self.redis_password_file} is not a "
                "readable file"
            )
        return self

    def password(self) -> str | None:
        """The password from the flag/env or the file; ``None`` means URL or no auth.

        Read when the connection pool is created (process start): a rotated password needs a
        restart, which a Kubernetes Secret change triggers through the checksum annotation.
        """
        if self.redis_password is not None:
            return self.redis_password.get_secret_value()
        if self.redis_password_file is not None:
            return self.redis_password_file.read_text().strip()
        return None

    def secrets(self) -> list[str]:
        """Every form of the password this process knows, for the log scrubber."""
        return [s for s in (self.password(), urlsplit(self.redis_url).password) if s]


class ExporterSettings(RedisSettings):
    """The exporter adds where to listen and how long a scrape may wait for Redis."""

    exporter_host: str = Field("0.0.0.0", description="address to listen on")
    exporter_port: int = Field(9808, ge=1, le=65535, description="TCP port 1-65535, e.g. 9808")
    scrape_deadline_seconds: float = Field(
        3.0,
        gt=0,
        lt=10,
        description="seconds a scrape waits for Redis, above 0 and below Prometheus' "
        "10 s scrape timeout",
    )


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


S = TypeVar("S", bound=RedisSettings)


class ConfigError(Exception):
    """Invalid configuration, already phrased for a person: setting, problem, fix."""


def add_setting_flags(parser: argparse.ArgumentParser, model: type[RedisSettings]) -> None:
    """Add one flag per settings field; unset flags fall back to the environment."""
    for name, info in model.model_fields.items():
        default = info.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        parser.add_argument(
            flag_name(name),
            dest=name,
            default=None,
            metavar=env_name(name),
            help=f"{info.description} (env {env_name(name)}, default {shown})",
        )


def load_settings(model: type[S], args: argparse.Namespace) -> S:
    """Build settings from flags (which win) and environment; raise ConfigError if invalid."""
    given = {
        name: value
        for name in model.model_fields
        if (value := getattr(args, name, None)) is not None
    }
    try:
        return model(**given)
    except ValidationError as error:
        raise ConfigError(describe_errors(model, error)) from None


def describe_errors(model: type[RedisSettings], error: ValidationError) -> str:
    """One line per invalid setting: env name, flag, what is wrong, and what to set instead."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        info = model.model_fields.get(field)
        if info is None:
            lines.append(f"invalid configuration: {message}")
            continue
        lines.append(
            f"invalid setting {env_name(field)} ({flag_name(field)}): {message}. "
            f"Fix: set it to {info.description}"
        )
    return "\n".join(lines)
