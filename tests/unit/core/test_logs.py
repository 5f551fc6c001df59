"""JSON log lines: parseable, carry extra fields, and never contain a configured secret."""

from __future__ import annotations

import json
import logging

from queue_core.logs import JsonFormatter


def test_json_line_with_fields_and_scrubbed_secret() -> None:
    record = logging.makeLogRecord(
        {
            "name": "queue_core.queue",
            "levelno": logging.ERROR,
            "levelname": "ERROR",
            "msg": "auth failed for %s",
            "args": ("redis://:hunter2@h:6379/0",),
            "queue": "enhancement:queue",
            "error": "bad password hunter2",
        }
    )
    line = JsonFormatter(secrets=["hunter2", ""]).format(record)
    assert "hunter2" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["message"] == "auth failed for redis://:***@h:6379/0"
    assert entry["queue"] == "enhancement:queue"
    assert entry["error"] == "bad password ***"


def record_with(message: str, **fields: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "aiohttp.access", "levelno": 20, "levelname": "INFO", "msg": message} | fields
    )


def test_secrets_with_quotes_and_backslashes_are_scrubbed_before_json_escapes_them() -> None:
    password = 'pa"ss\\wo\trd'
    formatter = JsonFormatter(secrets=[password])
    record = record_with(
        f'127.0.0.1 "GET /{password} HTTP/1.1" 404',
        error=f"AUTH {password} refused",
        queues=["a", password],
        detail={"sent": password},
        cause=ValueError(password),
    )
    line = formatter.format(record)
    escaped = json.dumps(password)[1:-1]
    assert escaped != password  # the case the old scrubber (after json.dumps) missed
    assert escaped not in line
    entry = json.loads(line)
    assert password not in json.dumps(entry, ensure_ascii=False)
    assert entry["message"] == '127.0.0.1 "GET /*** HTTP/1.1" 404'
    assert entry["error"] == "AUTH *** refused"
    assert entry["queues"] == ["a", "***"]
    assert entry["detail"] == {"sent": "***"}
    assert entry["cause"] == "***"


def test_the_traceback_is_scrubbed_too() -> None:
    password = 'x"y\\z'
    try:
        raise RuntimeError(f"login with {password} failed")
    except RuntimeError:
        import sys

        record = record_with("boom", exc_info=sys.exc_info())
    line = JsonFormatter(secrets=[password]).format(record)
    assert json.dumps(password)[1:-1] not in line
    assert "login with *** failed" in json.loads(line)["exception"]


def test_a_secret_containing_another_is_removed_whole() -> None:
    line = JsonFormatter(secrets=["pw", "pw-wrong"]).format(record_with("sent pw-wrong"))
    assert json.loads(line)["message"] == "sent ***"
