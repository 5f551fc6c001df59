"""The pure parts of a snapshot: job timestamps (never raising) and INFO text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from queue_core.jobs import Job, encode_job
from queue_core.snapshot import (
    job_age_seconds,
    job_enqueued_at,
    parse_info,
    parse_persistence,
)

STAMP = datetime(2025, 11, 1, 12, 0, 30, 123456, tzinfo=UTC)


def test_a_job_of_the_library_gives_its_timestamp() -> None:
    raw = encode_job(Job(tenant_id="t", ticket_id="T-1", description="d", timestamp=STAMP))
    assert job_enqueued_at(raw) == STAMP
    assert job_enqueued_at(raw.encode()) == STAMP  # clients that do not decode replies


# Every way a valid job can spell the one STAMP (the read script must agree with json).
VALID_SPELLINGS = [
    '{"timestamp": "2025-11-01T12:00:30.123456Z"}',
    '{"timestamp":"2025-11-01T12:00:30.123456+00:00"}',
    '{"timestamp":"2025-11-01T13:00:30.123456+01:00"}',
    ' \n\t{"a": {"timestamp": "1999-01-01T00:00:00Z"}, '
    '"timestamp": "2025-11-01T12:00:30.123456Z"}\r\n',
    '{"timestamp": "1999-01-01T00:00:00Z", "timestamp": "2025-11-01T12:00:30.123456Z"}',
    '{"description": "\\"timestamp\\":\\"1999-01-01\\"", '
    '"timestamp": "2025-11-01T12:00:30.123456Z"}',
    '{"timestamp": "\\u0032025-11-01T12:00:30.123456Z"}',
    '{"timestamp": "2025-11-01T12:00:30.123456"}',  # naive is UTC by contract
]

# Payloads with no usable timestamp: unknown age, never an exception.
CORRUPT_PAYLOADS: list[str | bytes | None] = [
    None,
    "",
    "   ",
    "not json",
    "\ufeff" + '{"timestamp": "2025-11-01T12:00:30Z"}',
    '{"timestamp": "2025-11-01T12:00:30Z"} trailing',
    '{"timestamp": "2025-11-01T12:00:30Z"',
    "[1, 2]",
    '"a string"',
    "42",
    "null",
    '{"no_timestamp": 1}',
    '{"timestamp": 1700000000}',
    '{"timestamp": null}',
    '{"timestamp": "yesterday"}',
    '{"timestamp": "2025-13-01T00:00:00Z"}',
    "[" * 100_000 + "]" * 100_000,
    '{"timestamp": "\\ud800"}',
    b"\xff\xfe{",
    "\udcff\udcfe",  # undecodable bytes as the pool hands them over (surrogateescape)
]


@pytest.mark.parametrize("raw", VALID_SPELLINGS)
def test_every_valid_spelling_of_the_same_time_gives_the_same_answer(raw: str) -> None:
    json.loads(raw)  # the cases are valid JSON
    assert job_enqueued_at(raw) == STAMP


@pytest.mark.parametrize("raw", CORRUPT_PAYLOADS)
def test_a_corrupt_payload_gives_unknown_age_never_an_exception(raw: str | bytes | None) -> None:
    assert job_enqueued_at(raw) is None


@pytest.mark.parametrize(
    ("enqueued", "age"),
    [
        (STAMP - timedelta(seconds=90, microseconds=500000), 90.5),
        (STAMP, 0.0),
        (STAMP + timedelta(microseconds=1), 0.0),  # a producer clock ahead of ours ...
        (STAMP + timedelta(hours=2), 0.0),  # ... never gives a negative age
    ],
)
def test_job_age_is_clamped_at_zero(enqueued: datetime, age: float) -> None:
    assert job_age_seconds(enqueued, STAMP) == age


def test_info_text_becomes_the_persistence_facts() -> None:
    text = (
        "# Persistence\r\nloading:0\r\naof_enabled:1\r\naof_rewrite_in_progress:1\r\n"
        "aof_last_bgrewrite_status:err\r\naof_last_write_status:ok\r\nrdb_last_save_time:1\r\n"
    )
    info = parse_info(text)
    assert info["aof_enabled"] == "1"
    assert "# Persistence" not in info
    state = parse_persistence(info)
    assert state.aof_enabled
    assert state.aof_rewrite_in_progress
    assert not state.aof_last_rewrite_ok
    assert state.aof_last_write_ok
    assert not state.loading


def test_missing_info_fields_are_not_failures() -> None:
    state = parse_persistence(parse_info(""))
    assert not state.aof_enabled
    assert state.aof_last_write_ok
    assert state.aof_last_rewrite_ok
