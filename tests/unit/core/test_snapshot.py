"""The pure parts of a snapshot: job timestamps (never raising) and INFO text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from queue_core.jobs import DeadLetter, Job, dead_letter_entry, decode_job, encode_job
from queue_core.snapshot import (
    PREFIX_BYTES,
    HeadStamps,
    LoadingState,
    MemoryState,
    job_age_seconds,
    job_enqueued_at,
    parse_info,
    parse_loading,
    parse_memory,
    parse_persistence,
    resp_command,
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
    ' \t\r\n{"timestamp": "2025-11-01T12:00:30.123456Z"} \t\r\n',  # JSON's whitespace
]

# Payloads with no usable timestamp: unknown age, never an exception.
CORRUPT_PAYLOADS: list[str | bytes | None] = [
    None,
    "",
    "   ",
    "not json",
    "\ufeff" + '{"timestamp": "2025-11-01T12:00:30Z"}',
    '{"timestamp": "2025-11-01T12:00:30Z"} trailing',
    '{"timestamp": "2025-11-01T12:00:30Z"} {}',
    # Whitespace to str.strip but not to JSON, either side of the object: json.loads refuses.
    '{"timestamp": "2025-11-01T12:00:30Z"}\x0b',
    '\x0c{"timestamp": "2025-11-01T12:00:30Z"}',
    '\u00a0{"timestamp": "2025-11-01T12:00:30Z"}',
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


def test_the_library_writes_the_timestamp_first_so_any_job_has_an_age_in_the_prefix() -> None:
    big = Job(tenant_id="t", ticket_id="T-1", description="é" * 1_000_000, timestamp=STAMP)
    raw = encode_job(big)
    assert raw.startswith('{"timestamp":"2025-11-01T12:00:30.123456Z",')
    assert json.loads(raw) == big.model_dump(mode="json")
    assert decode_job(raw) == big
    assert job_enqueued_at(raw) == STAMP
    assert job_enqueued_at(raw.encode()[:PREFIX_BYTES]) == STAMP  # what the read script returns


def test_workers_decode_jobs_in_either_field_order() -> None:
    job = Job(tenant_id="t", ticket_id="T-1", description="d", timestamp=STAMP, attempt=2)
    story_order = job.model_dump_json()  # timestamp after the other fields, as before
    assert not story_order.startswith('{"timestamp"')
    assert decode_job(story_order) == decode_job(encode_job(job)) == job


def test_a_dead_letter_entry_has_its_age_in_the_prefix_however_large_its_payload() -> None:
    entry = dead_letter_entry("x" * 1_000_000, "payload: Invalid JSON", "q", STAMP)
    assert entry.startswith('{"timestamp": "2025-11-01T12:00:30.123456Z", ')
    assert DeadLetter.model_validate_json(entry).payload == "x" * 1_000_000
    assert job_enqueued_at(entry) == STAMP


LONG = ', "description": "' + "x" * 2 * PREFIX_BYTES + '"'  # a member the prefix cuts


def foreign(before: str, after: str = LONG) -> str:
    """A job another client wrote: ``before`` and ``after`` are members around the timestamp."""
    return f'{{{before}"timestamp": "2025-11-01T12:00:30.123456Z"{after}}}'


@pytest.mark.parametrize(
    ("raw", "enqueued_at"),
    [
        # The timestamp ends inside the prefix: read, wherever the prefix cuts afterwards.
        (foreign('"d": "short", '), STAMP),
        (foreign('"n": [' + "1, " * 300 + '{"timestamp": 1}], '), STAMP),
        (foreign("", ', "x": ' + "[" * 2 * PREFIX_BYTES + "]" * 2 * PREFIX_BYTES), STAMP),
        # It lies beyond the prefix: unknown, even though the whole job would tell.
        (foreign('"description": "' + "x" * PREFIX_BYTES + '", ', ""), None),
        (foreign('"d": "' + "x" * (PREFIX_BYTES - 40) + '", ', ""), None),  # cut in the value
        # Before the cut, the object must still be a JSON object.
        (foreign('"a" 1, '), None),
        (foreign('"a": 1 '), None),
        (foreign("'a': 1, "), None),
        ("[" + foreign(""), None),
    ],
)
def test_a_foreign_job_has_an_age_only_when_its_timestamp_is_inside_the_prefix(
    raw: str, enqueued_at: datetime | None
) -> None:
    assert len(raw.encode()) > PREFIX_BYTES
    assert job_enqueued_at(raw) == enqueued_at
    assert job_enqueued_at(raw.encode()[:PREFIX_BYTES]) == enqueued_at


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
    assert parse_loading(info) is None


def test_info_of_a_loading_redis_says_how_far_it_is() -> None:
    info = parse_info("loading:1\r\nloading_loaded_perc:9.52\r\nloading_eta_seconds:9\r\n")
    assert parse_loading(info) == LoadingState(loaded_ratio=9.52 / 100, eta_seconds=9.0)
    assert parse_loading({"loading": 1}) == LoadingState(None, None)  # as redis-py's info()


def test_missing_info_fields_are_not_failures() -> None:
    state = parse_persistence(parse_info(""))
    assert not state.aof_enabled
    assert state.aof_last_write_ok
    assert state.aof_last_rewrite_ok


def test_info_memory_becomes_used_and_max_bytes() -> None:
    text = (
        "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n"
        "maxmemory:104857600\r\nmaxmemory_human:100.00M\r\nmaxmemory_policy:noeviction\r\n"
    )
    assert parse_memory(parse_info(text)) == MemoryState(used_bytes=1048576, max_bytes=104857600)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("used_memory:5\r\nmaxmemory:0\r\n", MemoryState(used_bytes=5, max_bytes=None)),
        ("", MemoryState(used_bytes=None, max_bytes=None)),
        ("used_memory:x\r\nmaxmemory:-1\r\n", MemoryState(used_bytes=None, max_bytes=None)),
    ],
)
def test_no_limit_or_missing_memory_fields_are_none_never_zero(
    text: str, expected: MemoryState
) -> None:
    assert parse_memory(parse_info(text)) == expected


@pytest.mark.parametrize("chars", [200, 250, 255, 256, 300, 500, 1000, 1023, 1024, 1100])
def test_text_and_bytes_agree_around_the_prefix_whatever_the_characters_weigh(chars: int) -> None:
    """A foreign job whose timestamp comes after a description of ``chars`` two-byte characters:
    whether the timestamp is inside the first PREFIX_BYTES *bytes* decides, for text as for
    bytes, not how many characters the text has."""
    raw = json.dumps(
        {"description": "é" * chars, "timestamp": "2025-11-01T12:00:30.123456Z"}, ensure_ascii=False
    )
    ends_inside = len(raw.encode()) < PREFIX_BYTES
    assert job_enqueued_at(raw) == job_enqueued_at(raw.encode())
    assert job_enqueued_at(raw) == (STAMP if ends_inside else None)


def test_head_stamps_parse_a_head_once_and_keep_only_the_last_reads_heads() -> None:
    first = encode_job(Job(tenant_id="t", ticket_id="T-1", description="d", timestamp=STAMP))
    later = STAMP + timedelta(seconds=5)
    second = encode_job(Job(tenant_id="t", ticket_id="T-2", description="d", timestamp=later))
    stamps = HeadStamps()
    (seen,) = stamps([first])
    assert seen == STAMP.timestamp()  # Unix seconds, as Snapshot.enqueued holds them
    again, changed, empty = stamps([first, second, None])
    assert again is seen  # unchanged head: the same answer object, not parsed again
    assert changed == later.timestamp()  # a changed head is another key: parsed
    assert empty is None
    stamps([second])
    (forgotten,) = stamps([first])  # the read before this one did not see `first`
    assert forgotten == STAMP.timestamp()
    assert forgotten is not seen


def test_a_command_is_framed_as_the_resp_spec_writes_it() -> None:
    # RESP: an array header, then each argument as $<byte length> and the bytes, CRLF after each.
    assert resp_command(b"LLEN", b"q") == b"*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n"
    assert resp_command(b"GET", "é".encode()) == b"*2\r\n$3\r\nGET\r\n$2\r\n\xc3\xa9\r\n"
