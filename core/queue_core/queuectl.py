"""``queuectl``: the queue library from a shell, with JSON on stdout for scripts and ``jq``.

    queuectl push '{"tenant_id": "t1", "ticket_id": "TKT-1", "description": "slow server"}'
    queuectl push - < jobs.jsonl        # one JSON object per line
    queuectl pop --block-seconds 2
    queuectl peek --count 5             # next to be processed first
    queuectl peek --queue enhancement:dlq   # dead letters: payload, reason, source, when
    queuectl depth                      # every configured queue
    queuectl stats                      # depths, oldest-job ages, AOF state, ping
    queuectl dlq list                   # dead letters, oldest first: index, id, reason, preview
    queuectl dlq requeue ID [--payload FIXED_JOB_JSON]   # back to its source queue, next in line
    queuectl dlq purge ID               # one; all of them with: queuectl dlq purge --yes

It reads the same ``AI_AGENTS_*`` settings (and flags) as the exporter, so pointing both at a
Redis is one environment; the setting flags work before or after the subcommand. ``--queue``
defaults to the first configured queue for ``push``, ``pop`` and ``peek``; ``depth`` and
``stats`` read every configured queue unless it is given.

Exit codes: 0 ok, 1 Redis unavailable, 2 invalid configuration or input, 3 ``pop`` met an entry
that is not a job and moved it to the dead-letter list instead of returning a job (stdout says
where and why; pop again for the next job), 4 ``dlq`` found no such dead letter (another
requeue or purge took it first; nothing was changed). Logs go to stderr as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError, ResponseError

from queue_core.connection import TIMEOUT_SECONDS, create_client
from queue_core.jobs import DeadLetter, Job, Undecodable, decode_job, iso_utc
from queue_core.logs import configure_logging
from queue_core.queue import (
    DEAD_LETTER_ID_LENGTH,
    DeadLettered,
    DeadLetterGoneError,
    DeadLetters,
    JobQueue,
    QueueKeyTypeError,
    QueueUnavailableError,
    StoredDeadLetter,
    is_dead_letter_list,
    source_queues,
)
from queue_core.settings import (
    QUEUE_NAME,
    QUEUE_NAME_RULE,
    ConfigError,
    RedisSettings,
    add_setting_flags,
    add_version_flag,
    flag_name,
    load_settings,
)
from queue_core.snapshot import QueueUsage, Snapshot, job_age_seconds, read_snapshot

EXIT_DEAD_LETTERED = 3
EXIT_GONE = 4
PREVIEW_CHARS = 60
PEEK_MAX = 1000  # LRANGE of more is a dump, not a peek: redis-cli LRANGE is there for that
REQUIRED_FIELDS = tuple(name for name, field in Job.model_fields.items() if field.is_required())


class InputError(Exception):
    """Input from the command line or stdin that queuectl refuses before changing anything."""


def entry_json(item: Job | DeadLetter | Undecodable) -> dict[str, Any]:
    if isinstance(item, Undecodable):
        return {"undecodable": item.raw, "reason": item.reason}
    if isinstance(item, DeadLetter):
        return {
            "payload": item.payload,
            "reason": item.reason,
            "source_queue": item.queue,
            "dead_lettered_at": iso_utc(item.timestamp),
        }
    return item.model_dump(mode="json")


def parse_jobs(texts: Iterable[str]) -> list[Job]:
    """Jobs from JSON objects; ``job_id`` and ``timestamp`` are filled in when absent."""
    jobs = []
    for number, text in enumerate(texts, start=1):
        decoded = decode_job(text)
        if isinstance(decoded, Undecodable):
            raise InputError(f"job {number}: {decoded.reason}")
        jobs.append(decoded)
    return jobs


def job_texts(arguments: Sequence[str]) -> Iterator[str]:
    """The arguments, with ``-`` standing for the non-blank lines of stdin."""
    for argument in arguments:
        if argument != "-":
            yield argument
            continue
        if sys.stdin.isatty():
            print(
                "queuectl: reading jobs from stdin, one JSON object per line; end with Ctrl-D",
                file=sys.stderr,
                flush=True,
            )
        yield from (line for line in sys.stdin if line.strip())


def parse_payload(text: str) -> Job:
    """``requeue --payload``: exactly one valid job, checked before Redis is asked."""
    texts = list(job_texts([text]))
    if len(texts) != 1:
        raise InputError(f"--payload: give exactly one job as a JSON object, got {len(texts)}")
    decoded = decode_job(texts[0])
    if isinstance(decoded, Undecodable):
        raise InputError(f"--payload: {decoded.reason}")
    return decoded


async def run(settings: RedisSettings, args: argparse.Namespace, jobs: list[Job]) -> Any:
    client = create_client(settings)
    try:
        if args.command == "dlq":
            fixed = jobs[0] if jobs else None
            return await run_dlq(DeadLetters(client, args.queue or settings.queues[0]), args, fixed)
        queue = JobQueue(client, args.queue or settings.queues[0])
        if args.command == "push":
            depth = await queue.push_many(jobs)
            return {"queue": queue.name, "pushed": [j.job_id for j in jobs], "depth": depth}
        if args.command == "pop":
            taken = await queue.pop_entry(args.block_seconds)
            if isinstance(taken, DeadLettered):
                return {"queue": queue.name, "job": None, "dead_lettered": dead_lettered(taken)}
            return {"queue": queue.name, "job": None if taken is None else entry_json(taken)}
        if args.command == "peek":
            entries = [entry_json(e) for e in await queue.peek(args.count)]
            key = "dead_letters" if is_dead_letter_list(queue.name) else "jobs"
            return {"queue": queue.name, key: entries}
        names = [args.queue] if args.queue else list(settings.queues)
        snapshot = await read_snapshot(client, names)
        if args.command == "depth":
            return {q.name: q.depth for q in snapshot.queues}
        return stats_json(snapshot)
    finally:
        await client.aclose()


async def run_dlq(dead: DeadLetters, args: argparse.Namespace, fixed: Job | None) -> Any:
    head = {"dead_letter": dead.name}
    if args.dlq_command == "list":
        shown = [dlq_summary(stored) for stored in await dead.entries(args.count)]
        return head | {"depth": await dead.depth(), "dead_letters": shown}
    if args.dlq_command == "purge" and args.ref is None:
        if not args.yes:
            raise InputError(
                f"purge would delete all {await dead.depth()} dead letters of {dead.name}; "
                "nothing was deleted. Run it again with --yes, or name one: purge ID"
            )
        return head | {"purged": await dead.purge()}
    stored = await dead.find(args.ref)
    if args.dlq_command == "show":
        return head | dlq_full(stored)
    if args.dlq_command == "purge":
        await dead.remove(stored)
        return head | {"purged": 1, "deleted": dlq_full(stored)}
    moved = await dead.requeue(stored, fixed)
    return head | {
        "requeued": stored.id,
        "queue": moved.queue,
        "job": entry_json(moved.job),
        "depth": moved.depth,
    }


def dlq_full(stored: StoredDeadLetter) -> dict[str, Any]:
    """One entry in full; ``job_problem`` says why its payload cannot be requeued as it is."""
    full = {"index": stored.index, "id": stored.id} | entry_json(stored.entry)
    if isinstance(stored.entry, DeadLetter):
        as_job = decode_job(stored.entry.payload)
        full["job_problem"] = as_job.reason if isinstance(as_job, Undecodable) else None
    return full


def dlq_summary(stored: StoredDeadLetter) -> dict[str, Any]:
    """One line's worth of an entry: its payload's size and start instead of the payload."""
    key = "payload" if isinstance(stored.entry, DeadLetter) else "undecodable"
    summary: dict[str, Any] = {"index": stored.index, "id": stored.id} | entry_json(stored.entry)
    text: str = summary.pop(key)
    cut = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    size = len(text.encode("utf-8", "surrogateescape"))
    return summary | {f"{key}_bytes": size, f"{key}_preview": cut}


def dead_lettered(moved: DeadLettered) -> dict[str, str]:
    return {"to": moved.to, "payload": moved.entry.raw, "reason": moved.entry.reason}


def usage_json(usage: QueueUsage, now: datetime) -> dict[str, Any]:
    """What the library's producers and workers left beside a queue, as the exporter reads it."""
    held_since = usage.oldest_in_flight_at
    return {
        "enqueued": usage.enqueued,
        "acked": usage.acked,
        "dead_lettered": usage.dead_lettered,
        "workers_registered": usage.registered_workers,
        "workers_live": usage.live_workers,
        "in_flight": usage.in_flight,
        "oldest_in_flight_age_seconds": None
        if held_since is None
        else round(job_age_seconds(held_since, now), 3),
    }


def stats_json(snapshot: Snapshot) -> dict[str, Any]:
    now = datetime.now(UTC)
    persistence = snapshot.persistence
    return {
        "queues": [
            {
                "queue": q.name,
                "depth": q.depth,
                "oldest_job_age_seconds": None
                if q.oldest_enqueued_at is None
                else round(job_age_seconds(q.oldest_enqueued_at, now), 3),
                "error": q.error,
                "usage": None if q.usage is None else usage_json(q.usage, now),
            }
            for q in snapshot.queues
        ],
        "aof": {
            "enabled": persistence.aof_enabled,
            "last_write_ok": persistence.aof_last_write_ok,
            "rewrite_in_progress": persistence.aof_rewrite_in_progress,
        },
        "ping_seconds": round(snapshot.ping_seconds, 6),
    }


def block_seconds(text: str) -> float:
    """``--block-seconds``: above 0 (0 would block forever) and below the socket timeout."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and below {TIMEOUT_SECONDS:g} "
            f"(the socket timeout), got {text!r}"
        )
    return seconds


def peek_count(text: str) -> int:
    """``--count``: checked here, because Redis answers a huge one with an error and a
    negative one with entries from the wrong end."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= PEEK_MAX:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {PEEK_MAX}, got {text!r}"
        )
    return count


def queue_name(text: str) -> str:
    """``--queue``: a name a queue may have (the settings' rule), before Redis is asked."""
    if not QUEUE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a queue name: {QUEUE_NAME_RULE}")
    return text


def push_queue(text: str) -> str:
    """``push --queue``: a queue name, and not a dead-letter list (it holds envelopes, and a
    job pushed there would never run)."""
    name = queue_name(text)
    if is_dead_letter_list(name):
        sources = " or ".join(f"--queue {source}" for source in source_queues(name))
        raise argparse.ArgumentTypeError(
            f"{name} is a dead-letter list (its name ends in :dlq): it holds payloads that "
            f"were not jobs, and nothing takes jobs from it. Push to its source queue: {sources}"
        )
    return name


def dead_letter_ref(text: str) -> int | str:
    """``INDEX`` (0 = oldest, shifts as older entries leave) or ``ID`` (as ``dlq list`` shows it,
    stable). An id is exactly 12 hex digits, so 12 digits are read as one: no list is that long."""
    if len(text) == DEAD_LETTER_ID_LENGTH and all(c in "0123456789abcdef" for c in text):
        return text
    if text.isascii() and text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(
        f"must be an index (0 = the oldest) or a {DEAD_LETTER_ID_LENGTH}-hex-digit id "
        f"as queuectl dlq list shows them, got {text!r}"
    )


DLQ_EPILOG = """\
INDEX is a place in processing order (0 = the oldest) and shifts when an older entry leaves; ID
(12 hex digits, a hash of the entry) does not. requeue puts the job at the front of its source
queue (next to be taken: it has waited its turn once), in one atomic step that also removes
exactly that entry; if another requeue or purge took it first, nothing changes and the exit
code is 4. A payload that is still not a valid job needs --payload.

examples:
  queuectl dlq list                            # the first configured queue's dead letters
  queuectl dlq list --queue billing:queue --count 50
  queuectl dlq show 0                          # the oldest, in full
  queuectl dlq show 3f2a9c01b7de               # by id
  queuectl dlq requeue 3f2a9c01b7de            # its payload is a valid job (now)
  queuectl dlq requeue 0 --payload '{"tenant_id": "t1", "ticket_id": "TKT-1", "description": "x"}'
  queuectl dlq show 0 | jq -c '.payload | fromjson | .ticket_id = "TKT-1"' \\
    | queuectl dlq requeue 0 --payload -
  queuectl dlq purge 3f2a9c01b7de              # delete one
  queuectl dlq purge --yes                     # delete all (without --yes: says how many)
"""


class JobsArgument(argparse.Action):
    """``push``'s jobs: at least one, so that a bare ``queuectl push`` explains itself instead
    of waiting on stdin in silence."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if not values:
            parser.error(
                "give the job as a JSON argument, or '-' to read JSON lines from stdin; "
                f"required job fields: {', '.join(REQUIRED_FIELDS)} (see queuectl push --help)"
            )
        setattr(namespace, self.dest, values)


def push_epilog() -> str:
    """The job contract as ``push --help`` shows it, from the Job model's own fields."""
    lines = [f"required job fields: {', '.join(REQUIRED_FIELDS)}", ""]
    for name, field in Job.model_fields.items():
        text = field.description or ""
        if not field.is_required() and field.default_factory is None:
            text += f" (default: {field.default})"
        lines.append(f"  {name:<12} {text}")
    example = {name: (Job.model_fields[name].examples or [""])[0] for name in REQUIRED_FIELDS}
    lines += [
        "  ...          any other field is kept as given",
        "",
        "examples:",
        f"  queuectl push '{json.dumps(example)}'",
        "  queuectl push - < jobs.jsonl        (one JSON object per line)",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queuectl",
        description="Push, pop, peek and inspect Redis job queues (JSON out). Exit codes: "
        "0 ok, 1 Redis unavailable, 2 invalid configuration or input, "
        f"{EXIT_DEAD_LETTERED} pop dead-lettered an entry that was not a job, "
        f"{EXIT_GONE} dlq found no such dead letter.",
    )
    add_version_flag(parser)
    add_setting_flags(parser, RedisSettings)
    # The same flags after the subcommand, where people put them too. Default SUPPRESS: unset
    # there, they leave the value given before the subcommand (or the environment's) alone;
    # help SUPPRESS: documented once, in `queuectl --help`, not in every subcommand's usage.
    settings_after = argparse.ArgumentParser(add_help=False)
    add_setting_flags(settings_after, RedisSettings)
    for action in settings_after._actions:
        action.default = action.help = argparse.SUPPRESS
    flags = ", ".join(map(flag_name, RedisSettings.fields))
    settings_note = textwrap.fill(
        f"The settings flags of queuectl --help ({flags}) work after the subcommand too.", width=79
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str, **options: Any) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=settings_note, parents=[settings_after], **options
        )

    push = command(
        "push",
        "enqueue jobs (JSON arguments, or - for JSON lines on stdin)",
        epilog=push_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    push.add_argument(
        "jobs",
        nargs="*",
        action=JobsArgument,
        metavar="JOB_JSON",
        help="a job as a JSON object, or - to read one per line from stdin",
    )
    pop = command("pop", "take the next job (at-most-once)")
    pop.add_argument(
        "--block-seconds",
        type=block_seconds,
        default=1.0,
        help="wait up to this long for a job, 0 < s < 5 (default: 1)",
    )
    peek = command("peek", "show the next jobs (or dead letters) without removing them")
    peek.add_argument(
        "--count",
        type=peek_count,
        default=10,
        help=f"how many, 1 to {PEEK_MAX} (default: 10)",
    )
    depth = command("depth", "LLEN of each queue (null: key is not a list)")
    dlq = command(
        "dlq",
        "list, show, requeue or purge dead letters",
        epilog=DLQ_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)

    def dlq_command(name: str, summary: str) -> argparse.ArgumentParser:
        sub = dlq_commands.add_parser(
            name, help=summary, description=settings_note, parents=[settings_after]
        )
        sub.add_argument(
            "--queue",
            type=queue_name,
            help="a queue, for its dead-letter list, or the dead-letter list itself "
            "(default: the first configured queue)",
        )
        return sub

    dlq_list = dlq_command("list", "the oldest dead letters: index, id, reason, preview")
    dlq_list.add_argument(
        "--count", type=peek_count, default=10, help=f"how many, 1 to {PEEK_MAX} (default: 10)"
    )
    ref_help = "INDEX (0 = the oldest) or ID, as dlq list shows them"
    dlq_command("show", "one dead letter in full").add_argument(
        "ref", type=dead_letter_ref, metavar="INDEX_OR_ID", help=ref_help
    )
    requeue = dlq_command("requeue", "move one dead letter back to its source queue")
    requeue.add_argument("ref", type=dead_letter_ref, metavar="INDEX_OR_ID", help=ref_help)
    requeue.add_argument(
        "--payload",
        metavar="JOB_JSON",
        help="the fixed job to requeue instead, or - to read it from stdin "
        "(default: the dead letter's own payload, if it is a valid job)",
    )
    purge = dlq_command("purge", "delete one dead letter, or all of them with --yes")
    purge.add_argument("ref", nargs="?", type=dead_letter_ref, metavar="INDEX_OR_ID", help=ref_help)
    purge.add_argument("--yes", action="store_true", help="delete every dead letter")
    stats = command("stats", "depths, oldest-job ages, AOF state, ping")
    push.add_argument(
        "--queue",
        type=push_queue,
        help="queue name, not a dead-letter list (default: the first configured queue)",
    )
    for sub in (pop, peek):
        sub.add_argument(
            "--queue", type=queue_name, help="queue name (default: the first configured queue)"
        )
    for sub in (depth, stats):
        sub.add_argument(
            "--queue", type=queue_name, help="only this queue (default: every configured queue)"
        )
    return parser


def json_text(result: Any) -> str:
    """UTF-8 as is, except when a payload that was not UTF-8 carries lone surrogates (how the
    pool decodes bad bytes): then ``\\u`` escapes, which JSON readers turn back into them."""
    text = json.dumps(result, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(result)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(RedisSettings, args)
    except ConfigError as error:
        print(f"queuectl: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    if args.command == "push" and args.queue is None:
        try:
            push_queue(settings.queues[0])  # the default queue obeys the --queue rule too
        except argparse.ArgumentTypeError as error:
            print(f"queuectl: the first of AI_AGENTS_QUEUES: {error}", file=sys.stderr)
            return 2
    try:
        jobs = parse_jobs(job_texts(args.jobs)) if args.command == "push" else []
        if getattr(args, "payload", None) is not None:
            jobs = [parse_payload(args.payload)]
        result = asyncio.run(run(settings, args, jobs))
    except (InputError, ValueError, QueueKeyTypeError) as error:
        print(f"queuectl: {error}", file=sys.stderr)
        return 2
    except DeadLetterGoneError as error:
        print(f"queuectl: {error}", file=sys.stderr)
        return EXIT_GONE
    except ResponseError as error:
        print(f"queuectl: Redis refused the command: {error}", file=sys.stderr)
        return 1
    except (QueueUnavailableError, RedisError, OSError) as error:
        print(f"queuectl: Redis unavailable: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(json_text(result) + "\n")
    moved = result.get("dead_lettered") if args.command == "pop" else None
    if moved is None:
        return 0
    print(
        f"queuectl: the next entry of {result['queue']} is not a job ({moved['reason']}); "
        f"moved it to {moved['to']} (see: queuectl dlq list --queue {moved['to']}). "
        "Pop again for the next job.",
        file=sys.stderr,
    )
    return EXIT_DEAD_LETTERED
