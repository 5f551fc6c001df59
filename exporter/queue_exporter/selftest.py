"""``python -m queue_exporter.selftest``: the checks behind the chart's ``helm test`` hook.

It runs in the exporter image (which every install already pulls), so the test depends only
on this package and the standard library, never on which tools a Redis image happens to ship.
Checks, in order:

1. ``ping``: Redis answers PING with the configured password (``AI_AGENTS_REDIS_PASSWORD``,
   from the Secret in the chart; never printed).
2. ``auth``: when a password is configured, Redis refuses a client that sends no credentials,
   so the Secret is really in force.
3. ``canary``: a canary job is pushed, peeked and popped through the queue library on a
   scratch key (never a real queue: a worker would take it), then the key and its counters
   are deleted.
4. ``metrics``: when ``AI_AGENTS_EXPORTER_METRICS_URL`` is set, the exporter's ``/metrics``
   reports ``redis_queue_up 1``.

Each check prints one line (``ok``, ``FAIL`` or ``skip``) naming what it checked or what went
wrong and what to look at. Exit codes: 0 every check passed, 1 a check failed, 2 invalid
configuration. Known secrets are removed from every line printed.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import AuthenticationError, RedisError

from queue_core import keys
from queue_core.connection import create_client
from queue_core.jobs import Job, encode_job
from queue_core.logs import configure_logging
from queue_core.queue import JobQueue, QueueKeyTypeError, QueueUnavailableError
from queue_core.settings import (
    ConfigError,
    RedisSettings,
    Setting,
    add_setting_flags,
    load_settings,
    mask_url,
)
from queue_exporter.metrics import UP

PROG = "queue_exporter.selftest"
# Scratch keys live under this prefix, apart from every queue a worker reads.
CANARY_PREFIX = "redis-queue:selftest:"
METRICS_TIMEOUT_SECONDS = 10.0
POP_BLOCK_SECONDS = 2.0

Status = Literal["ok", "FAIL", "skip"]


class CheckFailed(Exception):
    """A failed check, phrased for the person reading ``helm test --logs``."""


def _metrics_url(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Input should be a valid string")
    url = value.strip()
    if not url:
        return None  # empty: no exporter to check
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{mask_url(url)!r} must be an http:// or https:// URL with a host")
    return url


class SelftestSettings(RedisSettings):
    """Where Redis is (as for every program here) plus, optionally, the exporter to check."""

    fields: ClassVar[dict[str, Setting]] = {
        **RedisSettings.fields,
        "exporter_metrics_url": Setting(
            None,
            "the exporter's metrics URL, e.g. http://jobs-exporter:9808/metrics "
            "(empty: skip the metrics check)",
            _metrics_url,
        ),
    }

    exporter_metrics_url: str | None


@dataclass(frozen=True, slots=True)
class Result:
    check: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.check}: {self.detail}"


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _anonymous(settings: SelftestSettings) -> SelftestSettings:
    """The same Redis with no credentials at all: no password, no user (so no AUTH is sent)."""
    parts = urlsplit(settings.redis_url)
    return SelftestSettings(
        redis_url=urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])),
        redis_password=None,
        redis_password_file=None,
        queues=settings.queues,
        log_level=settings.log_level,
        exporter_metrics_url=None,
    )


async def check_ping(settings: SelftestSettings) -> str:
    where = mask_url(settings.redis_url)
    client = create_client(settings)
    try:
        started = time.perf_counter()
        answer = await client.ping()
        seconds = time.perf_counter() - started
    except AuthenticationError as error:
        given = "a password" if settings.password() is not None else "no password"
        raise CheckFailed(
            f"Redis at {where} refused the client, which sent {given} ({_reason(error)}); "
            "check that AI_AGENTS_REDIS_PASSWORD (or AI_AGENTS_REDIS_PASSWORD_FILE) holds the "
            "password of the Secret Redis was started with"
        ) from None
    except (RedisError, OSError) as error:
        raise CheckFailed(
            f"cannot reach Redis at {where} ({_reason(error)}); check AI_AGENTS_REDIS_URL, the "
            "Redis pod and, in Kubernetes, that this pod passes the NetworkPolicy"
        ) from None
    finally:
        await client.aclose()
    if answer is not True:
        raise CheckFailed(f"Redis at {where} answered PING with {answer!r}, not PONG")
    auth = "with the configured password" if settings.password() is not None else "(no auth)"
    return f"Redis at {where} answered PONG {auth} in {seconds * 1000:.1f} ms"


async def check_auth(settings: SelftestSettings) -> str:
    where = mask_url(settings.redis_url)
    client = create_client(_anonymous(settings))
    try:
        await client.ping()
    except AuthenticationError:
        return f"Redis at {where} refuses a client that sends no credentials"
    except (RedisError, OSError) as error:
        raise CheckFailed(
            f"a client without credentials got no answer from {where} ({_reason(error)})"
        ) from None
    finally:
        await client.aclose()
    raise CheckFailed(
        f"Redis at {where} answers a client that sent no credentials: the password is not in "
        "force (is Redis started with requirepass from the Secret, or is the default user "
        "nopass?)"
    )


async def check_canary(settings: SelftestSettings) -> str:
    token = uuid.uuid4().hex[:12]
    key = f"{CANARY_PREFIX}{socket.gethostname()}:{token}"
    job = Job(
        job_id=f"selftest-{token}",
        tenant_id="selftest",
        ticket_id="SELFTEST",
        description="canary job of queue_exporter.selftest (helm test); safe to delete",
        priority="low",
    )
    client = create_client(settings)
    queue = JobQueue(client, key)
    try:
        try:
            depth = await queue.push(job)
            if depth != 1:
                raise CheckFailed(f"scratch key {key} held {depth - 1} entries before the push")
            peeked = await queue.peek(1)
            if [encode_job(j) if isinstance(j, Job) else j for j in peeked] != [encode_job(job)]:
                raise CheckFailed(f"peek on {key} returned {peeked!r}, not the canary job")
            popped = await queue.pop(block_seconds=POP_BLOCK_SECONDS)
            if popped is None or encode_job(popped) != encode_job(job):
                raise CheckFailed(f"pop on {key} returned {popped!r}, not the canary job")
            left = await queue.depth()
            if left != 0:
                raise CheckFailed(f"{key} still holds {left} entries after the pop")
        finally:
            async with client.pipeline(transaction=True) as tx:
                tx.delete(key, queue.dead_letter, keys.stats_key(key))
                tx.srem(keys.QUEUES, key)
                await tx.execute()
    except (QueueUnavailableError, QueueKeyTypeError, RedisError, OSError) as error:
        raise CheckFailed(f"the canary job on {key} failed ({_reason(error)})") from None
    finally:
        await client.aclose()
    return f"job {job.job_id} pushed, peeked and popped on scratch key {key}; key deleted"


def check_metrics(url: str, timeout: float = METRICS_TIMEOUT_SECONDS) -> str:
    where = mask_url(url)
    request = urllib.request.Request(url, headers={"Accept": "text/plain"})  # noqa: S310 (http(s) only)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        raise CheckFailed(f"the exporter at {where} answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise CheckFailed(
            f"cannot reach the exporter at {where} ({reason}); check the exporter pod and "
            "AI_AGENTS_EXPORTER_METRICS_URL"
        ) from None
    values = [line.split()[-1] for line in body.splitlines() if line.split(" ", 1)[0] == UP]
    if not values:
        raise CheckFailed(f"{where} has no {UP} sample: is this the exporter's /metrics?")
    try:
        up = float(values[0])
    except ValueError:
        up = float("nan")
    if up != 1:
        raise CheckFailed(
            f"{where} reports {UP} {values[0]}: the exporter cannot reach Redis "
            "(see the exporter's logs: password, NetworkPolicy, Redis pod)"
        )
    return f"{where} reports {UP} 1"


async def _redis_checks(settings: SelftestSettings) -> list[Result]:
    results: list[Result] = []

    async def run(check: str, body: Callable[[SelftestSettings], Awaitable[str]]) -> bool:
        try:
            detail = await body(settings)
        except CheckFailed as failed:
            results.append(Result(check, "FAIL", str(failed)))
            return False
        results.append(Result(check, "ok", detail))
        return True

    if not await run("ping", check_ping):
        results.append(Result("auth", "skip", "needs a successful PING"))
        results.append(Result("canary", "skip", "needs a successful PING"))
        return results
    if settings.password() is None:
        results.append(Result("auth", "skip", "no password configured"))
    else:
        await run("auth", check_auth)
    await run("canary", check_canary)
    return results


def run_checks(settings: SelftestSettings) -> list[Result]:
    results = asyncio.run(_redis_checks(settings))
    url = settings.exporter_metrics_url
    if url is None:
        results.append(Result("metrics", "skip", "no exporter (AI_AGENTS_EXPORTER_METRICS_URL)"))
        return results
    try:
        results.append(Result("metrics", "ok", check_metrics(url)))
    except CheckFailed as failed:
        results.append(Result("metrics", "FAIL", str(failed)))
    return results


def _scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, "***")
        return text

    return scrub


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {PROG}",
        description="Check a redis-queue installation: PING with the password, a canary job "
        "through the queue library, and the exporter's redis_queue_up. Every flag can also be "
        "set through the environment variable shown as its value name.",
    )
    add_setting_flags(parser, SelftestSettings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings(SelftestSettings, build_parser().parse_args(argv))
    except ConfigError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    scrub = _scrubber(settings.secrets())
    results = run_checks(settings)
    for result in results:
        print(scrub(result.line()), flush=True)
    failed = [r.check for r in results if r.status == "FAIL"]
    if failed:
        print(f"{PROG}: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    passed = sum(r.status == "ok" for r in results)
    print(f"{PROG}: {passed} checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
