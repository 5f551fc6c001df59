"""Configuration from ``AI_AGENTS_*`` environment variables, each also a command-line flag.

One settings class per program is the single source of truth: the flags of ``queue-exporter``
and ``queuectl`` are generated from the class's field table (flag = env name without the
prefix, lower-case, dashes), so an env var can never lack its flag, and the field descriptions
double as ``--help`` text and as the "how to fix it" half of a config error.

Validation is strict on purpose: a typo in a URL or port should stop the process at start with
one clear line (exit code 2), not surface later as a stream of connection errors.

Why plain classes and not pydantic-settings (which the project still uses for the operator):
the exporter's resident memory. Importing pydantic and pydantic-settings costs the exporter
process about 9.5 MiB (pydantic 4.3, pydantic-settings 5.2, measured with VmRSS on Python
3.11), a fifth of its whole footprint, for seven string settings; the target is an
exporter under 40 MB. The behaviour is the one the pydantic-settings model had, and the tests
pin it: env names are matched case-insensitively, flags win over the environment, values are
parsed leniently where pydantic was lax (``" 99 "`` and ``"9.0"`` are port 99 and 9), and
errors keep pydantic's wording ("Input should be greater than or equal to 1").
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, NoReturn, TypeVar, cast
from urllib.parse import unquote, urlsplit

ENV_PREFIX = "AI_AGENTS_"
DEFAULT_QUEUES = ("enhancement:queue", "enhancement:dlq")
# Same pattern as the RedisQueue CRD: names that are safe in keys, labels and shells.
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
QUEUE_NAME_RULE = "use letters, digits and _.:-"  # QUEUE_NAME in words, for error messages
REDIS_SCHEMES = ("redis", "rediss", "unix")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, for logs and error messages.

    Works on strings that are not valid URLs too (it is called on bad input), because a
    malformed URL may still carry a real password, typically one with an unescaped ``/`` or
    ``@``. So it does not parse: everything between ``://`` and the *last* ``@`` is user
    information, and all of it after the first ``:`` is masked (the username before it is
    kept). Text without an ``@`` carries no credentials and is returned as is. When in doubt
    it masks too much (a ``@`` in a path), never too little.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    if not colon:
        return url  # ``user@host``: a username, no password
    return f"{scheme}{separator}{user}:***@{host}"


class SecretStr:
    """A string that does not show itself in ``repr``/``str`` (and so not in logs or tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# ----------------------------------------------------------------------------- value parsers
# Each takes the raw value (a string from env/flags, or a Python value from code) and returns
# the typed value or raises ValueError with the message a person sees.


def parse_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("Input should be a valid string")
    return value


def parse_integer(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value.strip() if isinstance(value, str) else None
    if text is not None and re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        return int(text.split(".")[0])
    try:
        number = float(text) if text is not None else float(cast(Any, value))
    except (TypeError, ValueError):
        raise ValueError(
            "Input should be a valid integer, unable to parse string as an integer"
        ) from None
    if math.isfinite(number) and number.is_integer():
        return int(number)
    raise ValueError("Input should be a valid integer, got a number with a fractional part")


def parse_number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        try:
            number = float(parse_text(value).strip())
        except ValueError:
            raise ValueError(
                "Input should be a valid number, unable to parse string as a number"
            ) from None
    if math.isnan(number):
        raise ValueError("Input should be a finite number")
    return number


_CREDENTIALS_HINT = (
    "check the port, and percent-encode special characters of the password: "
    "/ as %2F, @ as %40, : as %3A, % as %25"
)


def _redis_url(value: object) -> str:
    url = parse_text(value)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as error:
        # urlsplit's message quotes the text it failed on, which for a password holding an
        # unescaped "/" is a piece of that password ("Port could not be cast ... 's3cr'").
        reason = str(error) if mask_url(url) == url else _CREDENTIALS_HINT
        raise ValueError(f"{mask_url(url)!r} is not a valid URL ({reason})") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(f"{mask_url(url)!r} must start with redis://, rediss:// or unix://")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(f"{mask_url(url)!r} names no socket path")
        return url
    if not parts.hostname:
        raise ValueError(f"{mask_url(url)!r} names no host")
    if port == 0:
        raise ValueError(f"{mask_url(url)!r} has port 0")
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        raise ValueError(f"{mask_url(url)!r}: the path must be a database number like /0")
    return url


def _optional_secret(value: object) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(parse_text(value))


def _optional_path(value: object) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    return Path(parse_text(value))


def _queues(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        names = tuple(name.strip() for name in value.split(",") if name.strip())
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        names = tuple(value)
    else:
        raise ValueError("Input should be a valid tuple of strings")
    if not names:
        raise ValueError("the queue list is empty")
    bad = [name for name in names if not QUEUE_NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"invalid queue name(s) {bad}: {QUEUE_NAME_RULE}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"queue(s) listed twice: {duplicates}")
    return names


def _log_level(value: object) -> LogLevel:
    level = value.upper() if isinstance(value, str) else value
    if level not in LOG_LEVELS:
        raise ValueError("Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'")
    return cast(LogLevel, level)


@dataclass(frozen=True, slots=True)
class Setting:
    """One field: its default, its description (help and fix text), and its parser."""

    default: object
    description: str
    parse: Callable[[object], object]


class SettingsError(ValueError):
    """Invalid values: ``(field, message)`` pairs; field ``None`` for a cross-field problem."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


class RedisSettings:
    """What every program that talks to the queue needs: where Redis is and which queues.

    ``RedisSettings(**values)`` takes each field from ``values``, else from the environment
    (``AI_AGENTS_<FIELD>``, any case), else its default; it raises :class:`SettingsError` with
    every invalid field at once. Instances are read-only.
    """

    fields: ClassVar[dict[str, Setting]] = {
        "redis_url": Setting(
            "redis://localhost:6379/0",
            "Redis URL: redis://host:6379/0, rediss://host:6380/0 for TLS, "
            "or unix:///path/redis.sock",
            _redis_url,
        ),
        "redis_password": Setting(
            None,
            "Redis password (prefer AI_AGENTS_REDIS_PASSWORD_FILE: a flag shows in ps)",
            _optional_secret,
        ),
        "redis_password_file": Setting(
            None,
            "file holding the Redis password, e.g. a mounted Kubernetes Secret",
            _optional_path,
        ),
        "queues": Setting(
            DEFAULT_QUEUES,
            "comma-separated queue names, e.g. enhancement:queue,enhancement:dlq",
            _queues,
        ),
        "log_level": Setting("INFO", "log level: DEBUG, INFO, WARNING or ERROR", _log_level),
    }

    redis_url: str
    redis_password: SecretStr | None
    redis_password_file: Path | None
    queues: tuple[str, ...]
    log_level: LogLevel

    def __init__(self, **values: object) -> None:
        unknown = values.keys() - self.fields.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting(s) {sorted(unknown)}")
        environment = {key.upper(): value for key, value in os.environ.items()}
        problems: list[tuple[str | None, str]] = []
        for name, setting in self.fields.items():
            if name in values:
                raw = values[name]
            elif env_name(name) in environment:
                raw = environment[env_name(name)]
            else:
                object.__setattr__(self, name, setting.default)
                continue
            try:
                object.__setattr__(self, name, setting.parse(raw))
            except ValueError as error:
                problems.append((name, str(error)))
        if problems:
            raise SettingsError(problems)
        self._check()

    def _check(self) -> None:
        """Rules that involve more than one field."""
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
            raise SettingsError(
                [
                    (
                        None,
                        "the Redis password is given in more than one place "
                        f"({', '.join(env_name(s) for s in sources)}): keep exactly one",
                    )
                ]
            )
        object.__setattr__(self, "_file_password", self._read_password_file())

    def _read_password_file(self) -> str | None:
        """The password file's content, read here so a bad file is a config error at start.

        Any failure (missing, a directory, no permission, not UTF-8, empty) becomes one line
        naming the setting, never a traceback from deep inside the connection pool.
        """
        path = self.redis_password_file
        if path is None:
            return None
        try:
            password = path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            problem = f"{path} is not UTF-8 text"
        except OSError as error:
            problem = f"{path} is not a readable file ({error.strerror or error})"
        else:
            if password:
                return password
            problem = f"{path} is empty"
        raise SettingsError([("redis_password_file", problem)])

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RedisSettings) and (type(other), other._values()) == (
            type(self),
            self._values(),
        )

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = []
        for name, value in zip(self.fields, self._values(), strict=True):
            if name == "redis_url" and isinstance(value, str):
                value = mask_url(value)
            shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def password(self) -> str | None:
        """The password from the flag/env or the file; ``None`` means URL or no auth.

        The file is read once, when the settings are validated (process start): a rotated
        password needs a restart, which a Kubernetes Secret change triggers through the
        checksum annotation.
        """
        if self.redis_password is not None:
            return self.redis_password.get_secret_value()
        file_password: str | None = getattr(self, "_file_password", None)
        return file_password

    def secrets(self) -> list[str]:
        """Every form of the password this process knows, for the log scrubber.

        A password in the URL is there percent-encoded (``p%40ss``) while Redis, and any
        message that quotes what was sent, sees it decoded (``p@ss``): both are secrets.
        """
        in_url = urlsplit(self.redis_url).password
        forms = (self.password(), in_url, unquote(in_url) if in_url else None)
        return list(dict.fromkeys(s for s in forms if s))


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


S = TypeVar("S", bound=RedisSettings)


class ConfigError(Exception):
    """Invalid configuration, already phrased for a person: setting, problem, fix."""


def add_setting_flags(parser: argparse.ArgumentParser, model: type[RedisSettings]) -> None:
    """Add one flag per settings field; unset flags fall back to the environment."""
    for name, setting in model.fields.items():
        default = setting.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        parser.add_argument(
            flag_name(name),
            dest=name,
            default=None,
            metavar=env_name(name),
            help=f"{setting.description} (env {env_name(name)}, default {shown})",
        )


DISTRIBUTION = "redis-queue-stack"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked: importing importlib.metadata costs every
    start of the exporter about 30 ms otherwise."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        import importlib.metadata

        try:
            version = importlib.metadata.version(DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown (not installed: run make setup)"
        print(f"{parser.prog} {version}")
        parser.exit()


def add_version_flag(parser: argparse.ArgumentParser) -> None:
    """``--version``: the installed distribution's version, as every console script shows it."""
    parser.add_argument(
        "--version", action=_VersionAction, help=f"print the {DISTRIBUTION} version and exit"
    )


def load_settings(model: type[S], args: argparse.Namespace) -> S:
    """Build settings from flags (which win) and environment; raise ConfigError if invalid."""
    given = {
        name: value for name in model.fields if (value := getattr(args, name, None)) is not None
    }
    try:
        return model(**given)
    except SettingsError as error:
        raise ConfigError(describe_errors(model, error)) from None


def describe_errors(model: type[RedisSettings], error: SettingsError) -> str:
    """One line per invalid setting: env name, flag, what is wrong, and what to set instead."""
    lines = []
    fields: Mapping[str, Setting] = model.fields
    for field, message in error.problems:
        setting = fields.get(field) if field is not None else None
        if field is None or setting is None:
            lines.append(f"invalid configuration: {message}")
            continue
        lines.append(
            f"invalid setting {env_name(field)} ({flag_name(field)}): {message}. "
            f"Fix: set it to {setting.description}"
        )
    return "\n".join(lines)
