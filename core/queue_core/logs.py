"""JSON log lines on stderr, with known secrets scrubbed from every line.

One JSON object per line lets Kubernetes log pipelines index the fields (``queue``, ``op``,
``error``) instead of regex-parsing prose. The scrubbing is belt and braces: URLs are masked
where they are logged, but a password can still hide in a third-party exception message or an
access-log line, so the formatter removes every configured secret from the message, every
field and the traceback *before* encoding them. Scrubbing the encoded line alone is not
enough: JSON escapes ``"`` and ``\\`` (and control characters), so a password holding one of
them no longer appears verbatim there. As a last guard the encoded line is also scrubbed of
each secret's JSON-escaped form.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is data.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: time, level, logger, message, extra fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        escaped = {json.dumps(s, ensure_ascii=False)[1:-1] for s in self._secrets}
        self._escaped = tuple(sorted(escaped - set(self._secrets), key=len, reverse=True))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _scrub_value(self, value: object) -> object:
        """Strings scrubbed; containers walked; other objects as the text json would write."""
        if isinstance(value, str):
            return self._scrub(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {str(k): self._scrub_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._scrub_value(v) for v in value]
        return self._scrub(str(value))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if self._secrets:
            entry = {k: self._scrub_value(v) for k, v in entry.items()}
        line = json.dumps(entry, default=str, ensure_ascii=False)
        for secret in self._escaped:
            line = line.replace(secret, "***")
        return line


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Send all logging (ours, aiohttp's, redis-py's) as JSON lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
