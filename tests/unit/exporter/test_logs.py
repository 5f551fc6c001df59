"""JSON log lines: parseable, carry extra fields, and never contain a configured secret."""

from __future__ import annotations

import json
import logging

from queue_exporter.logs import JsonFormatter


def test_json_line_with_fields_and_scrubbed_secret() -> None:
    record = logging.makeLogRecord(
        {
            "name": "queue_exporter.queue",
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
