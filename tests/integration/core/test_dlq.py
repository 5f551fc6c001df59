"""``queuectl dlq`` as a person runs it, real processes on a real redis-server: dead letters
listed and shown decoded, requeued exactly once and atomically, purged only when confirmed."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import pytest

from queue_core.jobs import dead_letter_entry
from tests.integration.exporter.test_cli import clean_env, queuectl, run, run_queuectl, script
from tests.support.processes import RedisServer

QUEUE = "enhancement:queue"
DLQ = "enhancement:dlq"
JOB = {"tenant_id": "t", "ticket_id": "TKT-1", "description": "d"}
FIXED = {"tenant_id": "t", "ticket_id": "TKT-2", "description": "fixed"}
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def entries(server: RedisServer, key: str) -> list[str]:
    """The list's entries in processing order (the next one first)."""
    return server.cli("LRANGE", key, "0", "-1").splitlines()[::-1]


def dead_letter(server: RedisServer, payload: str, reason: str = "bad", queue: str = QUEUE) -> str:
    """Add a dead letter as the library writes it (newest last in processing order)."""
    entry = dead_letter_entry(payload, reason, queue, WHEN)
    server.cli("LPUSH", DLQ, entry)
    return entry


def dead_letter_id(server: RedisServer, index: int) -> str:
    """The id ``dlq list`` shows for the entry at ``index``, as a person would copy it."""
    listed = queuectl(server, "dlq", "list", "--count", "1000")["dead_letters"]
    shown: str = listed[index]["id"]
    return shown


def fields(job: str) -> dict[str, str]:
    decoded: dict[str, str] = json.loads(job)
    return {name: decoded[name] for name in ("tenant_id", "ticket_id", "description")}


def test_list_and_show_decode_the_envelopes_oldest_first(redis_server: RedisServer) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    redis_server.cli("LPUSH", QUEUE, "{not json")
    redis_server.cli("LPUSH", QUEUE, json.dumps({"tenant_id": "t", "note": "x" * 100}))
    for _ in range(2):
        run_queuectl(redis_server, "pop", "--block-seconds", "0.1")  # dead-letters each
    redis_server.cli("LPUSH", DLQ, "not an envelope")
    listed = queuectl(redis_server, "dlq", "list")
    assert listed["dead_letter"] == DLQ
    assert listed["depth"] == 3
    first, second, third = listed["dead_letters"]
    assert [first["index"], second["index"], third["index"]] == [0, 1, 2]
    assert first["source_queue"] == QUEUE
    assert "Invalid JSON" in first["reason"]
    assert first["payload_preview"] == "{not json"
    assert first["payload_bytes"] == 9
    assert datetime.fromisoformat(first["dead_lettered_at"]) >= before
    assert "ticket_id: Field required" in second["reason"]
    assert second["payload_bytes"] == len(json.dumps({"tenant_id": "t", "note": "x" * 100}))
    assert len(second["payload_preview"]) == 60
    assert second["payload_preview"].endswith("…")
    assert "payload" not in second
    assert third["undecodable_preview"] == "not an envelope"
    assert "Invalid JSON" in third["reason"]
    # Through the source queue's name, or a count, the same list.
    assert queuectl(redis_server, "dlq", "list", "--queue", QUEUE, "--count", "1")[
        "dead_letters"
    ] == [first]

    shown = queuectl(redis_server, "dlq", "show", "1")
    assert shown["id"] == second["id"]
    assert shown["payload"] == json.dumps({"tenant_id": "t", "note": "x" * 100})
    assert shown["source_queue"] == QUEUE
    assert shown["reason"] == second["reason"]
    assert shown["dead_lettered_at"] == second["dead_lettered_at"]
    assert "ticket_id: Field required" in shown["job_problem"]
    assert queuectl(redis_server, "dlq", "show", second["id"]) == shown
    assert redis_server.cli("LLEN", DLQ) == "3"  # reading changed nothing


def test_requeue_moves_exactly_that_entry_to_the_front_of_its_queue(
    redis_server: RedisServer,
) -> None:
    waiting = json.dumps(JOB | {"ticket_id": "TKT-0"})
    redis_server.cli("LPUSH", QUEUE, waiting)
    older = dead_letter(redis_server, "{not json")
    dead_letter(redis_server, json.dumps(JOB), reason="worker could not parse it then")
    newer = dead_letter(redis_server, "[]")
    chosen_id = dead_letter_id(redis_server, 1)
    done = queuectl(redis_server, "dlq", "requeue", chosen_id)
    assert done["requeued"] == chosen_id
    assert done["queue"] == QUEUE
    assert done["depth"] == 2
    assert entries(redis_server, DLQ) == [older, newer]
    next_job, behind = entries(redis_server, QUEUE)
    assert behind == waiting
    assert fields(next_job) == JOB
    assert json.loads(next_job)["job_id"] == done["job"]["job_id"]


def test_two_concurrent_requeues_of_one_entry_move_it_once(redis_server: RedisServer) -> None:
    other = dead_letter(redis_server, "{not json")
    dead_letter(redis_server, json.dumps(JOB))
    command = [script("queuectl"), "dlq", "requeue", dead_letter_id(redis_server, 1)]
    env = clean_env(AI_AGENTS_REDIS_URL=redis_server.url)
    processes = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outcomes = sorted((p.wait(timeout=30), p.communicate()[1]) for p in processes)
    (won, _), (lost, message) = outcomes
    assert (won, lost) == (0, 4), outcomes
    assert "nothing was changed" in message or "no dead letter with id" in message
    assert entries(redis_server, DLQ) == [other]
    (requeued,) = entries(redis_server, QUEUE)
    assert fields(requeued) == JOB


@pytest.mark.parametrize("via", ["argument", "stdin"])
def test_requeue_with_a_fixed_payload(redis_server: RedisServer, via: str) -> None:
    dead_letter(redis_server, json.dumps({"tenant_id": "t"}))
    kept = dead_letter(redis_server, "{not json")
    broken_id = dead_letter_id(redis_server, 0)
    given = ("--payload", json.dumps(FIXED)) if via == "argument" else ("--payload", "-")
    stdin = json.dumps(FIXED) + "\n" if via == "stdin" else ""
    done = queuectl(redis_server, "dlq", "requeue", "0", *given, stdin=stdin)
    assert done["requeued"] == broken_id
    assert entries(redis_server, DLQ) == [kept]
    (requeued,) = entries(redis_server, QUEUE)
    assert fields(requeued) == FIXED


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "--payload"),
        (("--payload", json.dumps({"tenant_id": "t"})), "--payload: ticket_id: Field required"),
        (("--payload", "{nope"), "--payload: payload: Invalid JSON"),
    ],
    ids=["no-payload", "fixed-payload-missing-a-field", "fixed-payload-not-json"],
)
def test_a_refused_requeue_leaves_both_lists_untouched(
    redis_server: RedisServer, args: tuple[str, ...], says: str
) -> None:
    redis_server.cli("LPUSH", QUEUE, json.dumps(JOB))
    dead_letter(redis_server, "{not json")
    queue_before, dlq_before = entries(redis_server, QUEUE), entries(redis_server, DLQ)
    done = run_queuectl(redis_server, "dlq", "requeue", "0", *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert entries(redis_server, QUEUE) == queue_before
    assert entries(redis_server, DLQ) == dlq_before


def test_requeue_onto_a_key_that_is_not_a_list_changes_nothing(redis_server: RedisServer) -> None:
    """The push comes before the removal in the script, so Redis refusing it loses nothing."""
    redis_server.cli("SET", QUEUE, "not a list")
    entry = dead_letter(redis_server, json.dumps(JOB))
    done = run_queuectl(redis_server, "dlq", "requeue", "0")
    assert done.returncode == 2, done.stderr
    assert f"queue {QUEUE} holds a non-list value" in done.stderr
    assert entries(redis_server, DLQ) == [entry]
    assert redis_server.cli("GET", QUEUE) == "not a list"


def test_requeue_or_purge_of_an_entry_that_is_not_there_exits_4(
    redis_server: RedisServer,
) -> None:
    entry = dead_letter(redis_server, json.dumps(JOB))
    for args in (("requeue", "1"), ("purge", "5"), ("show", "abcdef012345")):
        done = run_queuectl(redis_server, "dlq", *args)
        assert done.returncode == 4, (args, done.stderr)
        assert f"in {DLQ} (it holds 1;" in done.stderr
    assert entries(redis_server, DLQ) == [entry]
    assert redis_server.cli("EXISTS", QUEUE) == "0"


def test_purge_deletes_all_only_with_yes_and_one_by_id(redis_server: RedisServer) -> None:
    first = dead_letter(redis_server, "{not json")
    second = dead_letter(redis_server, "[]")
    third = dead_letter(redis_server, "{}")
    done = run_queuectl(redis_server, "dlq", "purge")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert f"would delete all 3 dead letters of {DLQ}" in done.stderr
    assert "--yes" in done.stderr
    assert entries(redis_server, DLQ) == [first, second, third]

    second_id = dead_letter_id(redis_server, 1)
    one = queuectl(redis_server, "dlq", "purge", second_id)
    assert one["purged"] == 1
    assert one["deleted"]["payload"] == "[]"  # what went is on stdout, not lost unseen
    assert entries(redis_server, DLQ) == [first, third]
    again = run_queuectl(redis_server, "dlq", "purge", second_id)
    assert again.returncode == 4, again.stderr

    assert queuectl(redis_server, "dlq", "purge", "--yes") == {"dead_letter": DLQ, "purged": 2}
    assert redis_server.cli("EXISTS", DLQ) == "0"


def test_dlq_help_shows_examples() -> None:
    done = run("queuectl", "dlq", "--help")
    assert done.returncode == 0, done.stderr
    examples = done.stdout.split("examples:\n", 1)[1]
    for command in ("list", "show", "requeue", "purge"):
        assert f"queuectl dlq {command} " in examples
    assert "--payload" in examples
    assert "purge --yes" in examples


def test_pop_from_a_dead_letter_list_points_to_the_dlq_commands(
    redis_server: RedisServer,
) -> None:
    entry = dead_letter(redis_server, json.dumps(JOB))
    done = run_queuectl(redis_server, "pop", "--queue", DLQ, "--block-seconds", "0.1")
    assert done.returncode == 2, done.stderr
    assert f"queuectl dlq list --queue {DLQ}" in done.stderr
    assert f"queuectl dlq requeue ID --queue {DLQ}" in done.stderr
    assert entries(redis_server, DLQ) == [entry]
