"""``queuectl`` as a person runs it, a real process on a real redis-server: refusals of names it
must not use, dead letters shown as what they are, and a pop that says what it did."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
from datetime import UTC, datetime

import pytest

from tests.integration.exporter.test_cli import clean_env, queuectl, run, run_queuectl, script
from tests.support.processes import RedisServer

QUEUE = "enhancement:queue"
DLQ = "enhancement:dlq"
JOB = json.dumps({"tenant_id": "t", "ticket_id": "TKT-1", "description": "d"})
COMMANDS_WITH_QUEUE = [
    ("push", JOB),
    ("pop", "--block-seconds", "0.1"),
    ("peek",),
    ("depth",),
    ("stats",),
]


@pytest.mark.parametrize("dead_letter", [DLQ, "billing:dlq"])
def test_push_onto_a_dead_letter_list_is_refused_naming_the_source_queue(
    redis_server: RedisServer, dead_letter: str
) -> None:
    done = run_queuectl(redis_server, "push", "--queue", dead_letter, JOB)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert f"error: argument --queue: {dead_letter} is a dead-letter list" in done.stderr
    base = dead_letter.removesuffix(":dlq")  # both source queues that dead-letter there
    assert done.stderr.endswith(
        f"Push to its source queue: --queue {base}:queue or --queue {base}\n"
    )
    assert redis_server.cli("EXISTS", dead_letter) == "0"


@pytest.mark.parametrize("args", COMMANDS_WITH_QUEUE, ids=[a[0] for a in COMMANDS_WITH_QUEUE])
@pytest.mark.parametrize("name", ["bad name!", "", "new\nline", "é"])
def test_a_queue_name_no_queue_may_have_is_refused_with_the_rule(
    redis_server: RedisServer, args: tuple[str, ...], name: str
) -> None:
    command, *rest = args
    done = run_queuectl(redis_server, command, "--queue", name, *rest)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "argument --queue" in done.stderr
    assert "letters, digits and _.:-" in done.stderr
    assert "Traceback" not in done.stderr
    assert redis_server.cli("DBSIZE") == "0"


def test_peek_on_a_dead_letter_list_shows_the_envelopes(redis_server: RedisServer) -> None:
    before = datetime.now(UTC)
    redis_server.cli("LPUSH", QUEUE, "{not json")
    run_queuectl(redis_server, "pop", "--block-seconds", "0.1")  # dead-letters it
    redis_server.cli("LPUSH", DLQ, "not an envelope")
    shown = queuectl(redis_server, "peek", "--queue", DLQ)
    assert shown["queue"] == DLQ
    first, second = shown["dead_letters"]
    assert first["payload"] == "{not json"
    assert "Invalid JSON" in first["reason"]
    assert first["source_queue"] == QUEUE
    assert datetime.fromisoformat(first["dead_lettered_at"]) >= before.replace(microsecond=0)
    assert first["dead_lettered_at"].endswith("Z")
    assert second["undecodable"] == "not an envelope"
    assert "Invalid JSON" in second["reason"]


def test_peek_shows_a_dead_letter_that_was_not_utf8(redis_server: RedisServer) -> None:
    """The bad bytes come back as JSON escapes: valid UTF-8 on stdout, no crash."""
    subprocess.run(
        ["redis-cli", "-p", str(redis_server.port), "-x", "LPUSH", QUEUE],
        input=b"\xff\xfe{",
        check=True,
        capture_output=True,
    )
    run_queuectl(redis_server, "pop", "--block-seconds", "0.1")
    for command in ("--queue", DLQ), ("--queue", QUEUE):
        done = run_queuectl(redis_server, "peek", *command)
        assert done.returncode == 0, done.stderr
    shown = queuectl(redis_server, "peek", "--queue", DLQ)
    payload = shown["dead_letters"][0]["payload"]
    assert payload.encode("utf-8", "surrogateescape") == b"\xff\xfe{"


def test_pop_of_a_corrupt_job_says_where_it_went_and_exits_3(redis_server: RedisServer) -> None:
    redis_server.cli("LPUSH", QUEUE, JOB)  # a good job behind the corrupt ones stays queued
    redis_server.cli("RPUSH", QUEUE, "{not json")
    redis_server.cli("RPUSH", QUEUE, "[]")  # the next one
    done = run_queuectl(redis_server, "pop", "--block-seconds", "0.1")
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["job"] is None
    assert result["dead_lettered"]["to"] == DLQ
    assert result["dead_lettered"]["payload"] == "[]"
    assert "Input should be an object" in result["dead_lettered"]["reason"]
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith(f"queuectl: the next entry of {QUEUE} is not a job (")
    assert f"moved it to {DLQ}" in message
    assert f"queuectl dlq list --queue {DLQ}" in message
    assert redis_server.cli("LLEN", QUEUE) == "2"
    assert redis_server.cli("LLEN", DLQ) == "1"
    # The next pop dead-letters the next corrupt one; then the good job comes out with 0.
    assert run_queuectl(redis_server, "pop", "--block-seconds", "0.1").returncode == 3
    assert queuectl(redis_server, "pop", "--block-seconds", "0.1")["job"]["ticket_id"] == "TKT-1"


@pytest.mark.parametrize("value", ["99999999999999999999", "-5", "0", "1001", "ten", "2.5"])
def test_peek_count_out_of_range_names_the_flag_and_limit(
    redis_server: RedisServer, value: str
) -> None:
    done = run_queuectl(redis_server, "peek", "--count", value)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "argument --count" in done.stderr
    assert "from 1 to 1000" in done.stderr


def test_peek_count_at_the_limit_is_accepted(redis_server: RedisServer) -> None:
    assert queuectl(redis_server, "peek", "--count", "1000") == {"queue": QUEUE, "jobs": []}


def test_push_without_a_job_prints_usage_with_the_required_fields(
    redis_server: RedisServer,
) -> None:
    done = run_queuectl(redis_server, "push", stdin=JOB)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage: queuectl push")
    assert "tenant_id, ticket_id, description" in done.stderr
    assert "'-'" in done.stderr
    assert redis_server.cli("LLEN", QUEUE) == "0"


def test_push_dash_reads_json_lines_from_stdin(redis_server: RedisServer) -> None:
    pushed = queuectl(redis_server, "push", "-", stdin=f"{JOB}\n\n{JOB}\n")
    assert len(pushed["pushed"]) == 2
    assert redis_server.cli("LLEN", QUEUE) == "2"


def test_push_dash_from_a_terminal_says_it_reads_stdin(redis_server: RedisServer) -> None:
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [script("queuectl"), "push", "-"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(AI_AGENTS_REDIS_URL=redis_server.url),
        )
        assert process.stderr is not None
        notice = process.stderr.readline().decode()  # written before stdin is read
        assert "reading jobs from stdin" in notice
        assert "Ctrl-D" in notice
        os.write(controller, JOB.encode() + b"\n\x04")
        out, _ = process.communicate(timeout=30)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == 0
    assert len(json.loads(out)["pushed"]) == 1


def test_push_help_lists_the_job_fields_and_an_example_that_works(
    redis_server: RedisServer,
) -> None:
    done = run("queuectl", "push", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "required job fields: tenant_id, ticket_id, description" in text
    fields = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    for optional in ("job_id", "priority", "timestamp"):
        assert "(default: " in fields[optional]
    example = next(line for line in done.stdout.splitlines() if "queuectl push '" in line)
    job = example.split("'")[1]
    assert queuectl(redis_server, "push", job)["depth"] == 1


@pytest.mark.parametrize("program", ["queuectl", "queue-exporter"])
def test_version_is_the_installed_package_version(program: str) -> None:
    done = run(program, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{program} {importlib.metadata.version('redis-queue-stack')}"


def test_settings_flags_work_after_the_subcommand_too(redis_server: RedisServer) -> None:
    redis_server.cli("LPUSH", QUEUE, JOB)
    nowhere = "redis://127.0.0.1:1/0"
    after = run("queuectl", "depth", "--redis-url", redis_server.url, AI_AGENTS_REDIS_URL=nowhere)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == {QUEUE: 1, DLQ: 0}
    # Given in both places, the one after the subcommand wins; before it still works alone.
    both = run("queuectl", "--redis-url", nowhere, "depth", "--redis-url", redis_server.url)
    assert both.returncode == 0, both.stderr
    before = run("queuectl", "--redis-url", redis_server.url, "--queues", QUEUE, "depth")
    assert json.loads(before.stdout) == {QUEUE: 1}
    bad = run("queuectl", "depth", "--redis-url", "http://h")
    assert bad.returncode == 2
    assert "AI_AGENTS_REDIS_URL (--redis-url)" in bad.stderr


def test_push_to_a_default_queue_that_is_a_dead_letter_list_is_refused(
    redis_server: RedisServer,
) -> None:
    """Without --queue, push goes to the first of AI_AGENTS_QUEUES: the same rule holds."""
    done = run("queuectl", "push", JOB, AI_AGENTS_REDIS_URL=redis_server.url, AI_AGENTS_QUEUES=DLQ)
    assert done.returncode == 2, done.stderr
    assert "the first of AI_AGENTS_QUEUES" in done.stderr
    assert f"{DLQ} is a dead-letter list" in done.stderr
    assert redis_server.cli("EXISTS", DLQ) == "0"


def test_stats_shows_the_counters_and_jobs_in_flight_of_a_queue_the_library_works(
    redis_server: RedisServer,
) -> None:
    for _ in range(3):
        assert queuectl(redis_server, "push", JOB)["depth"] >= 1
    assert queuectl(redis_server, "pop", "--block-seconds", "0.1")["job"] is not None
    redis_server.cli("LPUSH", DLQ, "x")  # no library client touched the DLQ: no usage
    stats = {q["queue"]: q for q in queuectl(redis_server, "stats")["queues"]}
    assert stats[QUEUE]["depth"] == 2
    assert stats[QUEUE]["usage"] == {
        "enqueued": 3,
        "acked": 1,  # a pop's taking is its acknowledgement
        "dead_lettered": 0,
        "workers_registered": 0,
        "workers_live": 0,
        "in_flight": 0,
        "oldest_in_flight_age_seconds": None,
    }
    assert stats[DLQ]["usage"] is None
