"""Every metric this exporter publishes, the pure function that builds them, and their text.

Metric names live here and nowhere else in the package: the chart's alerts, the autoscaling
queries and the operator's docs are tested against the exporter's real output, so one module
to read is one place to keep in step with ``docs/CONTRACTS.md``.

:func:`build_families` is pure (a snapshot in, metric families out) so the rules that matter to
an autoscaler are unit-testable without a server: when Redis is down there is
``redis_queue_up 0`` and *no* depth series, because a made-up 0 would let the autoscaler remove
workers during an outage; a queue whose key is not a list has no depth either, only
``redis_queue_key_error``.

:func:`render` writes the Prometheus text exposition format 0.0.4 itself instead of going
through ``prometheus_client``. Measured at 1000 queues on the benchmark machine,
``generate_latest`` took 6 ms per scrape (a ``Sample`` namedtuple, a label dict and a
``floatToGoString`` call per series) against 0.5 ms here, and not importing the library saves
about 1 MiB of resident memory. What we give up is small and deliberate:

- only gauges and counters, no timestamps, exemplars or histograms, which is all these
  families need;
- no OpenMetrics negotiation: every Prometheus version, and ``promtool check metrics``,
  reads the 0.0.4 text format, which is what ``Content-Type`` announces.

The format's rules that a queue name could trip are implemented and unit-tested: label values
escape backslash, double quote and newline; HELP text escapes backslash and newline; values are
written the way Go parses them (``+Inf``, ``-Inf``, ``NaN``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal

from queue_core.snapshot import LoadingState, QueueUsage, Snapshot, ages_seconds, job_age_seconds

PREFIX = "redis_queue_"
UP = PREFIX + "up"
DEPTH = PREFIX + "depth"
OLDEST_JOB_AGE = PREFIX + "oldest_job_age_seconds"
PING = PREFIX + "ping_seconds"
SCRAPE_DURATION = PREFIX + "scrape_duration_seconds"
AOF_ENABLED = PREFIX + "aof_enabled"
AOF_LAST_WRITE_OK = PREFIX + "aof_last_write_ok"
AOF_REWRITE_IN_PROGRESS = PREFIX + "aof_rewrite_in_progress"
AOF_LAST_REWRITE_OK = PREFIX + "aof_last_rewrite_ok"
MEMORY_USED = PREFIX + "redis_memory_used_bytes"
MEMORY_MAX = PREFIX + "redis_memory_max_bytes"
LOADING = PREFIX + "redis_loading"
LOADING_RATIO = PREFIX + "redis_loading_loaded_ratio"
KEY_ERROR = PREFIX + "key_error"
# What the library's producers and workers left beside a queue (queue_core.keys); a queue no
# library client touched has none of these series.
IN_FLIGHT = PREFIX + "jobs_in_flight"
WORKERS = PREFIX + "workers"
WORKERS_REGISTERED = PREFIX + "workers_registered"
OLDEST_IN_FLIGHT_AGE = PREFIX + "oldest_in_flight_age_seconds"
ENQUEUED = PREFIX + "jobs_enqueued_total"
ACKED = PREFIX + "jobs_acked_total"
DEAD_LETTERED = PREFIX + "jobs_dead_lettered_total"

# The exporter's own health, under its own prefix: the queue families describe Redis.
EXPORTER_PREFIX = "redis_queue_exporter_"
BUILD_INFO = EXPORTER_PREFIX + "build_info"
SCRAPES = EXPORTER_PREFIX + "scrapes_total"
SCRAPE_ERRORS = EXPORTER_PREFIX + "scrape_errors_total"
LAST_SCRAPE_ERROR = EXPORTER_PREFIX + "last_scrape_error"
# Why a read of Redis failed; every reason is announced at 0 from the first scrape so that
# ``rate()`` and ``increase()`` see the first error instead of a series that appears with it.
SCRAPE_ERROR_REASONS = ("timeout", "connection", "auth", "loading", "response", "other")

# The names every Prometheus client library gives a process' own resources.
PROCESS_RESIDENT_MEMORY = "process_resident_memory_bytes"
PROCESS_VIRTUAL_MEMORY = "process_virtual_memory_bytes"
PROCESS_CPU = "process_cpu_seconds_total"
PROCESS_OPEN_FDS = "process_open_fds"
PROCESS_MAX_FDS = "process_max_fds"
PROCESS_START_TIME = "process_start_time_seconds"

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Job timestamps carry microseconds (ISO 8601), so an age has six meaningful decimals; a
# float's shortest repr of the difference would write ten more digits of noise.
AGE_DECIMALS = 6


@dataclass(slots=True)
class Family:
    """One metric family: name, HELP text, label names, samples (label values, value), type.

    A counter's name ends in ``_total`` and its samples carry that name as is (format 0.0.4).
    ``decimals``: finite float values are written with that many decimals instead of the
    shortest text that reads back exactly, for values whose data has a known resolution (ages:
    :data:`AGE_DECIMALS`), which is also half the formatting time.
    """

    name: str
    help: str
    labels: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    type: Literal["gauge", "counter"] = "gauge"
    decimals: int | None = None

    def add(self, values: tuple[str, ...], value: float) -> None:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.labels)} label values expected")
        self.samples.append((values, value))


class QueueLabels:
    """The label text ``{queue="..."} `` of each queue of a read, escaped once.

    Why: at 1000 queues, escaping and framing every queue's label again for each family was
    most of a scrape's rendering, and a collector's queue list never changes, so it keeps one
    of these; :func:`build_families` makes one for a snapshot that comes without.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.texts = [f'{{queue="{escape_label_value(name)}"}} ' for name in self.names]


@dataclass(slots=True)
class QueueFamily:
    """A family of one sample per queue (the ``queue`` label), as a column of values aligned
    with ``queues``: ``None`` where a queue has no sample.

    Values are ints, or, with ``decimals`` (ages), finite floats: what Redis' counts and the
    ages of parsed timestamps are, so they are written without :func:`format_value`'s checks.
    """

    name: str
    help: str
    queues: QueueLabels
    values: Sequence[float | None]
    type: Literal["gauge", "counter"] = "gauge"
    decimals: int | None = None
    labels: ClassVar[tuple[str, ...]] = ("queue",)

    @property
    def samples(self) -> list[tuple[tuple[str, ...], float]]:
        """The samples as a :class:`Family` holds them (for readers other than :func:`render`)."""
        return [
            ((name,), value)
            for name, value in zip(self.queues.names, self.values, strict=True)
            if value is not None
        ]


AnyFamily = Family | QueueFamily


def build_families(
    snapshot: Snapshot | None,
    scrape_seconds: float,
    now: datetime,
    loading: LoadingState | None = None,
    queues: QueueLabels | None = None,
) -> list[AnyFamily]:
    """Metric families for one scrape; ``snapshot`` is ``None`` when Redis did not answer.

    ``now`` is passed in (not read here) so ages are deterministic in tests and consistent
    across all queues of one scrape. ``loading`` is given when the read failed because Redis
    is loading its dataset: then ``redis_queue_redis_loading`` is 1 (and the loaded fraction is
    published when Redis reports it), after a successful read it is 0, and when Redis did not
    answer at all it has no sample, because whether it is loading is then unknown. ``queues``
    is the snapshot's queues' labels from a caller that keeps them across scrapes.
    """
    up = Family(UP, "1 if Redis answered this scrape's PING and read within the deadline, else 0")
    up.add((), 1.0 if snapshot is not None else 0.0)
    duration = Family(
        SCRAPE_DURATION, "Seconds spent reading Redis for this scrape (bounded by the deadline)"
    )
    duration.add((), scrape_seconds)
    is_loading = Family(
        LOADING, "1 while Redis loads its dataset (AOF) and answers -LOADING, 0 when it served"
    )
    families: list[AnyFamily] = [up, duration]
    if snapshot is None:
        if loading is None:
            return families
        is_loading.add((), 1.0)
        ratio = Family(LOADING_RATIO, "Fraction of the dataset a loading Redis has read (0-1)")
        if loading.loaded_ratio is not None:
            ratio.add((), loading.loaded_ratio)
        return [*families, is_loading, ratio]
    is_loading.add((), 0.0)
    if queues is None or queues.names != snapshot.names:
        queues = QueueLabels(snapshot.names)

    ping = Family(PING, "Round-trip time of this scrape's PING to Redis")
    ping.add((), snapshot.ping_seconds)
    depth = QueueFamily(DEPTH, "Jobs waiting in the queue (LLEN)", queues, snapshot.depths)
    age = QueueFamily(
        OLDEST_JOB_AGE,
        "Age of the next job to be processed, from its timestamp field",
        queues,
        ages_seconds(snapshot.enqueued, now),
        decimals=AGE_DECIMALS,
    )
    key_error = Family(
        KEY_ERROR,
        "1 when a configured queue key cannot be read as a list (e.g. WRONGTYPE)",
        ("queue", "error"),
    )
    for at, error in snapshot.errors.items():
        key_error.add((snapshot.names[at], error), 1.0)

    persistence = snapshot.persistence
    aof_enabled = Family(AOF_ENABLED, "1 if Redis has appendonly enabled")
    aof_enabled.add((), float(persistence.aof_enabled))
    aof_write = Family(AOF_LAST_WRITE_OK, "1 if the last AOF write succeeded")
    aof_write.add((), float(persistence.aof_last_write_ok))
    aof_rewrite = Family(AOF_REWRITE_IN_PROGRESS, "1 while an AOF rewrite is running")
    aof_rewrite.add((), float(persistence.aof_rewrite_in_progress))
    aof_last_rewrite = Family(AOF_LAST_REWRITE_OK, "1 if the last AOF rewrite succeeded")
    aof_last_rewrite.add((), float(persistence.aof_last_rewrite_ok))
    # No sample rather than a made-up one: maxmemory 0 means "no limit", not 0 bytes.
    memory = snapshot.memory
    used = Family(MEMORY_USED, "Bytes Redis has allocated (INFO memory used_memory)")
    if memory.used_bytes is not None:
        used.add((), memory.used_bytes)
    limit = Family(
        MEMORY_MAX, "Redis maxmemory in bytes; no sample when Redis has no limit (maxmemory 0)"
    )
    if memory.max_bytes is not None:
        limit.add((), memory.max_bytes)
    return [
        *families,
        ping,
        depth,
        age,
        key_error,
        *usage_families(queues, snapshot.usages, now),
        aof_enabled,
        aof_write,
        aof_rewrite,
        aof_last_rewrite,
        is_loading,
        used,
        limit,
    ]


# The per-queue families of the library's bookkeeping: name, HELP, type, decimals.
USAGE_FAMILIES: tuple[tuple[str, str, Literal["gauge", "counter"], int | None], ...] = (
    (IN_FLIGHT, "Jobs held by reliable consumers, claimed and not acked", "gauge", None),
    (WORKERS, "Reliable consumers whose heartbeat lease is alive", "gauge", None),
    (
        WORKERS_REGISTERED,
        "Reliable consumers registered, alive or not yet reaped after their lease ended",
        "gauge",
        None,
    ),
    (
        OLDEST_IN_FLIGHT_AGE,
        "Age (since it was enqueued) of the oldest job a reliable consumer holds",
        "gauge",
        AGE_DECIMALS,
    ),
    (ENQUEUED, "Jobs pushed through the library (dead letters requeued included)", "counter", None),
    (
        ACKED,
        "Jobs acknowledged by a reliable consumer, or taken by an at-most-once pop",
        "counter",
        None,
    ),
    (
        DEAD_LETTERED,
        "Payloads the library moved to the dead-letter list because they were no job",
        "counter",
        None,
    ),
)


def usage_values(usage: QueueUsage, now: datetime) -> tuple[float | None, ...]:
    """A queue's bookkeeping, in :data:`USAGE_FAMILIES`' order: a value Redis does not hold (a
    counter never incremented, workers above the read's cap) is ``None``, never a made-up 0."""
    held_since = usage.oldest_in_flight_at
    return (
        usage.in_flight,
        usage.live_workers,
        usage.registered_workers,
        None if held_since is None else job_age_seconds(held_since, now),
        usage.enqueued,
        usage.acked,
        usage.dead_lettered,
    )


def usage_families(
    queues: QueueLabels, usages: Mapping[int, QueueUsage], now: datetime
) -> list[QueueFamily]:
    """:data:`USAGE_FAMILIES` for the queues that have a usage (by position in ``queues``)."""
    columns: list[list[float | None]] = [[None] * len(queues.names) for _ in USAGE_FAMILIES]
    for at, usage in usages.items():
        for column, value in zip(columns, usage_values(usage, now), strict=True):
            column[at] = value
    return [
        QueueFamily(name, text, queues, column, kind, decimals)
        for (name, text, kind, decimals), column in zip(USAGE_FAMILIES, columns, strict=True)
    ]


def build_info_family(version: str, python_version: str) -> Family:
    """The constant ``build_info`` gauge: which release and Python a series came from."""
    info = Family(
        BUILD_INFO,
        "Always 1; the exporter's version and Python version as labels",
        ("version", "python_version"),
    )
    info.add((version, python_version), 1.0)
    return info


def scrape_stats_families(
    scrapes: int, errors: Mapping[str, int], last_error: str | None
) -> list[Family]:
    """The exporter's own scrape counters, and whether the latest read of Redis failed.

    ``errors`` counts failed reads by reason (one of :data:`SCRAPE_ERROR_REASONS`);
    ``last_error`` is the latest read's reason, ``None`` when it succeeded.
    """
    total = Family(
        SCRAPES,
        "Reads of Redis made for scrapes and readiness probes (concurrent ones share a read)",
        type="counter",
    )
    total.add((), float(scrapes))
    failed = Family(
        SCRAPE_ERRORS, "Reads of Redis that failed, by reason", ("reason",), type="counter"
    )
    for reason in SCRAPE_ERROR_REASONS:
        failed.add((reason,), float(errors.get(reason, 0)))
    last = Family(LAST_SCRAPE_ERROR, "1 if the latest read of Redis failed, else 0")
    last.add((), 0.0 if last_error is None else 1.0)
    return [total, failed, last]


@dataclass(frozen=True, slots=True)
class ProcText:
    """What ``/proc`` says about a process, as text, and the two constants needed to read it.

    ``stat`` is ``/proc/<pid>/stat``, ``limits`` is ``/proc/<pid>/limits``, ``system_stat`` is
    ``/proc/stat`` or just its ``btime`` line (which dates the boot, from which start time is
    counted).
    """

    stat: str
    limits: str
    system_stat: str
    open_fds: int
    clock_ticks: int
    page_size: int


def process_families(proc: ProcText) -> list[Family]:
    """The standard ``process_*`` families from ``/proc`` text, as prometheus_client names them.

    ``stat``'s second field (the command) may hold spaces and parentheses, so fields are
    counted after its last ``)``: then utime, stime, starttime, vsize and rss are the 12th,
    13th, 20th, 21st and 22nd (fields 14, 15, 22, 23, 24 of proc(5)).
    """
    fields = proc.stat.rpartition(")")[2].split()
    ticks = proc.clock_ticks
    utime, stime, start, vsize, rss = (int(fields[i]) for i in (11, 12, 19, 20, 21))
    boot = next(
        float(line.split()[1]) for line in proc.system_stat.splitlines() if line.startswith("btime")
    )
    max_fds: float | None = None
    for line in proc.limits.splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files") :].split()[0]
            max_fds = float("inf") if soft == "unlimited" else float(soft)

    def gauge(name: str, text: str, value: float) -> Family:
        family = Family(name, text)
        family.add((), value)
        return family

    families = [
        gauge(PROCESS_RESIDENT_MEMORY, "Resident memory size in bytes", rss * proc.page_size),
        gauge(PROCESS_VIRTUAL_MEMORY, "Virtual memory size in bytes", vsize),
        Family(
            PROCESS_CPU,
            "Total user and system CPU time spent in seconds",
            samples=[((), (utime + stime) / ticks)],
            type="counter",
        ),
        gauge(PROCESS_OPEN_FDS, "Number of open file descriptors", proc.open_fds),
        gauge(
            PROCESS_START_TIME,
            "Start time of the process since unix epoch in seconds",
            boot + start / ticks,
        ),
    ]
    if max_fds is not None:
        families.append(gauge(PROCESS_MAX_FDS, "Maximum number of open file descriptors", max_fds))
    return families


def escape_label_value(value: str) -> str:
    """Label value escaping of the text format: backslash, double quote, line feed."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    """HELP escaping of the text format: backslash and line feed (quotes stay as they are)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float, decimals: int | None = None) -> str:
    """A sample value as Go's ``strconv.ParseFloat`` reads it: integers without a fraction,
    or, when ``decimals`` is given (see :class:`Family`), every finite value with that many."""
    if decimals is None:
        if type(value) is int:  # not bool: True must not become "True"
            return str(value)
        if value - value == 0:  # finite; cheaper than math.isfinite at thousands of samples
            return repr(float(value))
    elif value - value == 0:
        return f"{value:.{decimals}f}"
    if value != value:
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def _queue_lines(family: QueueFamily) -> list[str]:
    """A :class:`QueueFamily`'s sample lines: one f-string per queue with a value.

    A column without any value (a bookkeeping family where no queue has bookkeeping) is told
    by one C-level count instead of a Python test per queue: 20 us a family at 1000 queues.
    """
    if family.values.count(None) == len(family.values):
        return []
    pairs = zip(family.queues.texts, family.values, strict=True)
    name = family.name
    if family.decimals is None:
        return [f"{name}{label}{value}" for label, value in pairs if value is not None]
    spec = f".{family.decimals}f"  # as format_value writes them
    return [f"{name}{label}{value:{spec}}" for label, value in pairs if value is not None]


def render(families: Sequence[AnyFamily]) -> bytes:
    """The text exposition (format 0.0.4) of ``families``, UTF-8 encoded.

    Families without samples are still announced with HELP and TYPE, as prometheus_client
    does; a label set is written ``{a="x",b="y"}``, in the family's label order.
    """
    lines: list[str] = []
    for family in families:
        name, decimals = family.name, family.decimals
        lines.append(f"# HELP {name} {escape_help(family.help)}\n# TYPE {name} {family.type}")
        if isinstance(family, QueueFamily):
            lines.extend(_queue_lines(family))
        elif not family.labels:
            lines.extend([f"{name} {format_value(value, decimals)}" for _, value in family.samples])
        else:
            heads = [f'{label}="' for label in family.labels]
            for values, value in family.samples:
                pairs = '",'.join(
                    head + escape_label_value(v) for head, v in zip(heads, values, strict=True)
                )
                lines.append(f'{name}{{{pairs}"}} {format_value(value, decimals)}')
    lines.append("")
    return "\n".join(lines).encode()
