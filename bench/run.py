"""``make bench``: /metrics of queue-exporter vs Debian's redis_exporter, same Redis, same client.

For each scenario (1 queue, 1000 queues) it starts a fresh redis-server on loopback, fills the
queues with timestamped JSON jobs, starts both exporters against it (redis_exporter with
``-check-single-keys`` listing the same keys) and measures them one after the other:

- latency: ``--warmup`` unmeasured scrapes, then ``--requests`` sequential ones (p50/p99);
- throughput: ``--concurrency`` scrapers on keep-alive connections sharing
  ``--concurrent-requests`` requests;
- CPU per scrape: utime+stime of the exporter process (and of redis-server) over both phases,
  divided by the scrapes; RSS (VmRSS) after the run.

Every phase is bounded by ``--phase-seconds`` as well as by its count; a phase cut short reports
how many samples it got. Results go to stdout as a table and to bench/results/*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import client, floor, heads, procstat, report, workload  # noqa: E402
from tests.support.processes import (  # noqa: E402
    ExporterProcess,
    RedisExporterProcess,
    RedisServer,
)

RESULTS_DIR = ROOT / "bench" / "results"


class Exporter(Protocol):
    port: int
    process: subprocess.Popen[Any] | None


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def pid_of(exporter: Exporter) -> int:
    assert exporter.process is not None
    return exporter.process.pid


def check_depth(body: bytes, pattern: str, expected: int, who: str) -> None:
    """Both exporters must report the same, true depth before their speed means anything."""
    match = re.search(pattern.encode(), body, re.MULTILINE)
    if match is None or float(match.group(1)) != expected:
        found = match.group(1).decode() if match else "no series"
        raise SystemExit(f"{who}: expected depth {expected}, found {found} ({pattern})")


def measure(
    exporter: Exporter, redis_pid: int, args: argparse.Namespace, who: str
) -> dict[str, Any]:
    pid = pid_of(exporter)
    log(f"  {who}: {args.requests} sequential scrapes (after {args.warmup} warm-up)")
    cpu0, rcpu0 = procstat.cpu_seconds(pid), procstat.cpu_seconds(redis_pid)
    seq = client.sequential(exporter.port, args.requests, args.phase_seconds, args.warmup)
    cpu1, rcpu1 = procstat.cpu_seconds(pid), procstat.cpu_seconds(redis_pid)
    log(f"  {who}: {args.concurrent_requests} requests from {args.concurrency} concurrent scrapers")
    conc = client.concurrent(
        exporter.port, args.concurrent_requests, args.concurrency, args.phase_seconds
    )
    cpu2, rcpu2 = procstat.cpu_seconds(pid), procstat.cpu_seconds(redis_pid)
    mem = procstat.memory(pid)
    scrapes = seq.count + conc.requests
    return {
        "pid": pid,
        "sequential": {
            "count": seq.count,
            "wall_seconds": seq.wall_seconds,
            "p50_ms": seq.percentile(50),
            "p90_ms": seq.percentile(90),
            "p99_ms": seq.percentile(99),
            "max_ms": max(seq.samples_ms, default=float("nan")),
            "mean_ms": seq.mean_ms,
            "body_bytes": seq.body_bytes,
            "cpu_ms_per_scrape": 1000 * (cpu1 - cpu0) / max(seq.count, 1),
            "redis_cpu_ms_per_scrape": 1000 * (rcpu1 - rcpu0) / max(seq.count, 1),
        },
        "concurrent": {
            "requests": conc.requests,
            "concurrency": conc.concurrency,
            "wall_seconds": conc.wall_seconds,
            "rps": conc.per_second,
            "p50_ms": client.Latencies(conc.samples_ms, 0, 0).percentile(50),
            "p99_ms": client.Latencies(conc.samples_ms, 0, 0).percentile(99),
            "cpu_ms_per_scrape": 1000 * (cpu2 - cpu1) / max(conc.requests, 1),
        },
        "cpu_ms_per_scrape": 1000 * (cpu2 - cpu0) / max(scrapes, 1),
        "redis_cpu_ms_per_scrape": 1000 * (rcpu2 - rcpu0) / max(scrapes, 1),
        "rss_bytes": mem.rss_bytes,
        "peak_rss_bytes": mem.peak_rss_bytes,
    }


def scenario(queues: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    log(f"scenario: {queues} queue(s) x {args.jobs} jobs")
    names = workload.queue_names(queues)
    redis = RedisServer(data_dir=work / f"redis-{queues}", appendfsync="everysec").start()
    ours: ExporterProcess | None = None
    theirs: RedisExporterProcess | None = None
    try:
        depths = workload.fill(redis.url, names, args.jobs)
        ours = ExporterProcess(redis_url=redis.url, queues=",".join(names))
        ours.env["AI_AGENTS_LOG_LEVEL"] = "WARNING"
        ours.start(work)
        theirs = RedisExporterProcess(redis_url=redis.url, keys=tuple(names)).start(work)

        probe = names[-1]
        check_depth(
            client.KeepAliveClient(ours.port).get(),
            rf'^redis_queue_depth\{{queue="{re.escape(probe)}"\}} (\S+)$',
            depths[probe],
            "queue-exporter",
        )
        check_depth(
            client.KeepAliveClient(theirs.port).get(),
            rf'^redis_key_size\{{db="db0",key="{re.escape(probe)}"\}} (\S+)$',
            depths[probe],
            "redis_exporter",
        )
        assert redis.process is not None
        redis_pid = redis.process.pid
        measured = {
            "queues": queues,
            "jobs_per_queue": args.jobs,
            "ours": measure(ours, redis_pid, args, "queue-exporter"),
            "theirs": measure(theirs, redis_pid, args, "redis_exporter"),
        }
        log(
            f"  floor: raw pipelined LLEN of {queues} key(s) and a constant HTTP answer, in turns "
            "with queue-exporter (every next job changed / unchanged)"
        )
        measured["floor"] = floor.interleaved(
            redis.port,
            names,
            ours.port,
            workload.rotator(redis.url, names),
            lambda: heads.redis_stat(redis, "commandstats", "cmdstat_evalsha:", "usec"),
            args.requests,
            args.warmup,
        )
        return measured
    finally:
        if theirs is not None:
            theirs.stop()
        if ours is not None:
            ours.stop()
        redis.kill()


def version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError as error:
        return f"unavailable ({error})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else ""


def redis_exporter_version() -> str:
    """``-version`` prints a log line; keep the "Redis Metrics Exporter 1.45.0-..." part."""
    line = version(["prometheus-redis-exporter", "-version"])
    match = re.search(r"Redis Metrics Exporter (\S+)", line)
    return f"redis_exporter {match.group(1)}" if match else line


def machine() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "loadavg_at_start": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": version(["redis-server", "--version"]),
        "redis_exporter": redis_exporter_version(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--queues", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--jobs", type=int, default=10, help="jobs per queue")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200, help="sequential scrapes")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--concurrent-requests", type=int, default=240)
    parser.add_argument(
        "--phase-seconds", type=float, default=60.0, help="time cap of each measured phase"
    )
    parser.add_argument(
        "--head-scrapes", type=int, default=20, help="scrapes per large-head size (0: skip)"
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default: results/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("redis-server", "redis-cli", "prometheus-redis-exporter"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} not found; run `make setup`")
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "scenarios": [],
    }
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        for queues in args.queues:
            results["scenarios"].append(scenario(queues, args, Path(tmp)))
        if args.head_scrapes > 0:
            log(f"large heads: {heads.QUEUES} queues, next job of {heads.SIZES} bytes")
            results["large_heads"] = heads.large_heads(args, Path(tmp))
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = [asdict(t) for t in report.evaluate(results)]

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or RESULTS_DIR / f"bench-{stamp}.json"
    output.write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2) + "\n")

    m = results["machine"]
    print(
        f"\nMachine: {m['cpus']} CPUs ({m['cpu_model']}), load {m['loadavg_at_start'][0]:.2f}, "
        f"Python {m['python']}; {m['redis_server']}; {m['redis_exporter']}"
    )
    # Relative to the repository when it is inside it; an --output elsewhere is shown as given.
    shown = output.resolve().relative_to(ROOT) if output.resolve().is_relative_to(ROOT) else output
    print(f"Took {results['duration_seconds']} s; JSON: {shown}\n")
    print(report.render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
