"""The job codec: round trips, defaults, and reasons for payloads that are not jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from queue_core.jobs import Job, Undecodable, dead_letter_entry, decode_job, encode_job
from queue_core.queue import dead_letter_name
from queue_core.snapshot import job_enqueued_at


def job(**fields: object) -> Job:
    values: dict[str, object] = {
        "tenant_id": "tenant-abc",
        "ticket_id": "TKT-12345",
        "description": "Server slow",
    }
    return Job.model_validate(values | fields)


def test_round_trip_keeps_unicode_verbatim() -> None:
    original = job(description="Serveur très lent ☃ 日本語 🚀")
    text = encode_job(original)
    assert "très lent ☃ 日本語 🚀" in text
    assert decode_job(text) == original


def test_defaults_and_utc_timestamp_with_z() -> None:
    first, second = job(), job()
    assert first.job_id != second.job_id
    assert first.priority == "normal"
    stamp = json.loads(encode_job(first))["timestamp"]
    assert stamp.endswith("Z")
    # The exporter's age parser reads exactly what the codec writes.
    assert job_enqueued_at(encode_job(first)) == first.timestamp


def test_offsets_and_naive_timestamps_become_utc() -> None:
    paris = datetime(2025, 11, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert job(timestamp=paris).timestamp == datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
    assert job(timestamp=datetime(2025, 11, 1, 12, 0)).timestamp.tzinfo == UTC


def test_unknown_fields_survive_a_round_trip() -> None:
    text = encode_job(job(attempt=3))
    assert json.loads(text)["attempt"] == 3
    decoded = decode_job(text)
    assert isinstance(decoded, Job)
    assert decoded.model_extra == {"attempt": 3}


def test_undecodable_payloads_carry_a_reason() -> None:
    cases = {
        "not json": "Invalid JSON",
        "[1, 2]": "object",
        '{"tenant_id": "t"}': "ticket_id: Field required",
        '{"tenant_id": "t", "ticket_id": "x", "description": "d", "timestamp": "x"}': "timestamp",
    }
    for raw, reason in cases.items():
        decoded = decode_job(raw)
        assert isinstance(decoded, Undecodable), raw
        assert decoded.raw == raw
        assert reason in decoded.reason


def test_dead_letter_entry_preserves_non_utf8_bytes() -> None:
    raw = b"\xff\xfe{bad".decode("utf-8", "surrogateescape")
    entry = dead_letter_entry(raw, "payload: invalid", "enhancement:queue", datetime.now(UTC))
    entry.encode("utf-8")  # valid UTF-8 text, storable and readable by any JSON tool
    parsed = json.loads(entry)
    assert parsed["payload"].encode("utf-8", "surrogateescape") == b"\xff\xfe{bad"
    assert parsed["queue"] == "enhancement:queue"
    assert parsed["reason"] == "payload: invalid"
    assert job_enqueued_at(entry) is not None


def test_dead_letter_names() -> None:
    assert dead_letter_name("enhancement:queue") == "enhancement:dlq"
    assert dead_letter_name("billing") == "billing:dlq"
