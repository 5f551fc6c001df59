"""Metric families from a snapshot, and their text exposition: the rules an autoscaler and the
alerts depend on, and the format rules Prometheus' parser enforces."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from queue_core.snapshot import (
    LoadingState,
    MemoryState,
    PersistenceState,
    QueueState,
    QueueUsage,
    Snapshot,
)
from queue_exporter import metrics

NOW = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
PERSISTENCE = PersistenceState(
    aof_enabled=True,
    aof_last_write_ok=True,
    aof_rewrite_in_progress=False,
    aof_last_rewrite_ok=True,
)
MEMORY = MemoryState(used_bytes=1_048_576, max_bytes=104_857_600)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(families: list[metrics.Family]) -> Samples:
    return {
        (f.name, tuple(sorted(zip(f.labels, values, strict=True)))): float(value)
        for f in families
        for values, value in f.samples
    }


def parsed(body: bytes) -> Samples:
    """What Prometheus' own text parser (as shipped in prometheus_client) reads from ``body``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def snapshot(
    *queues: QueueState,
    memory: MemoryState = MEMORY,
    persistence: PersistenceState = PERSISTENCE,
) -> Snapshot:
    """The snapshot a read of these queues' states gives, in its columns."""
    return Snapshot(
        names=tuple(q.name for q in queues),
        depths=[q.depth for q in queues],
        enqueued=[None if (at := q.oldest_enqueued_at) is None else at.timestamp() for q in queues],
        persistence=persistence,
        memory=memory,
        ping_seconds=0.001,
        errors={at: q.error for at, q in enumerate(queues) if q.error is not None},
        usages={at: q.usage for at, q in enumerate(queues) if q.usage is not None},
    )


def test_a_snapshots_queues_are_its_columns_one_state_per_queue() -> None:
    states = (
        QueueState("a", 3, NOW - timedelta(seconds=1.5)),
        QueueState("b", None, None, error="WRONGTYPE"),
        QueueState("c", 0, None, usage=QueueUsage(1, 1, 0, 1, 1, 0, None)),
        QueueState("a", 3, NOW - timedelta(seconds=1.5)),  # a repeated queue keeps its place
    )
    assert snapshot(*states).queues == states


def test_loading_is_one_while_redis_loads_zero_after_a_read_and_unknown_when_down() -> None:
    loading = samples(metrics.build_families(None, 0.1, NOW, LoadingState(0.25, 3.0)))
    assert loading == {
        (metrics.UP, ()): 0.0,
        (metrics.SCRAPE_DURATION, ()): 0.1,
        (metrics.LOADING, ()): 1.0,
        (metrics.LOADING_RATIO, ()): 0.25,
    }
    unknown_ratio = samples(metrics.build_families(None, 0.1, NOW, LoadingState(None, None)))
    assert (metrics.LOADING_RATIO, ()) not in unknown_ratio
    served = samples(metrics.build_families(snapshot(), 0.1, NOW))
    assert served[(metrics.LOADING, ())] == 0.0
    assert (metrics.LOADING_RATIO, ()) not in served


def test_redis_down_reports_up_zero_and_no_queue_series() -> None:
    got = samples(metrics.build_families(None, 3.0, NOW))
    assert got == {(metrics.UP, ()): 0.0, (metrics.SCRAPE_DURATION, ()): 3.0}


def test_depth_age_and_persistence() -> None:
    got = samples(
        metrics.build_families(
            snapshot(
                QueueState("enhancement:queue", 12, NOW - timedelta(seconds=90)),
                QueueState("enhancement:dlq", 0, None),
            ),
            0.01,
            NOW,
        )
    )
    assert got[(metrics.UP, ())] == 1.0
    assert got[(metrics.DEPTH, (("queue", "enhancement:queue"),))] == 12.0
    assert got[(metrics.DEPTH, (("queue", "enhancement:dlq"),))] == 0.0
    assert got[(metrics.OLDEST_JOB_AGE, (("queue", "enhancement:queue"),))] == 90.0
    assert (metrics.OLDEST_JOB_AGE, (("queue", "enhancement:dlq"),)) not in got
    assert got[(metrics.AOF_ENABLED, ())] == 1.0
    assert got[(metrics.AOF_LAST_WRITE_OK, ())] == 1.0
    assert got[(metrics.AOF_REWRITE_IN_PROGRESS, ())] == 0.0
    assert got[(metrics.PING, ())] == 0.001


def test_memory_and_rewrite_status() -> None:
    got = samples(metrics.build_families(snapshot(), 0.01, NOW))
    assert got[(metrics.MEMORY_USED, ())] == 1_048_576
    assert got[(metrics.MEMORY_MAX, ())] == 104_857_600
    assert got[(metrics.AOF_LAST_REWRITE_OK, ())] == 1.0
    failed = PersistenceState(
        aof_enabled=True,
        aof_last_write_ok=True,
        aof_rewrite_in_progress=False,
        aof_last_rewrite_ok=False,
    )
    got = samples(metrics.build_families(snapshot(persistence=failed), 0.01, NOW))
    assert got[(metrics.AOF_LAST_REWRITE_OK, ())] == 0.0


def test_no_memory_limit_is_no_max_sample_not_zero() -> None:
    unlimited = snapshot(memory=MemoryState(used_bytes=1_048_576, max_bytes=None))
    families = metrics.build_families(unlimited, 0.01, NOW)
    got = samples(families)
    assert (metrics.MEMORY_MAX, ()) not in got
    assert got[(metrics.MEMORY_USED, ())] == 1_048_576
    text = metrics.render(families).decode()
    assert "# TYPE redis_queue_redis_memory_max_bytes gauge" in text
    assert not [line for line in text.splitlines() if line.startswith(metrics.MEMORY_MAX)]


def test_future_timestamp_gives_zero_age_not_negative() -> None:
    got = samples(
        metrics.build_families(snapshot(QueueState("q", 1, NOW + timedelta(seconds=5))), 0, NOW)
    )
    assert got[(metrics.OLDEST_JOB_AGE, (("queue", "q"),))] == 0.0


def test_usage_series_only_for_queues_the_library_touched_and_none_made_up() -> None:
    busy = QueueUsage(
        enqueued=40,
        acked=30,
        dead_lettered=2,
        registered_workers=3,
        live_workers=2,
        in_flight=5,
        oldest_in_flight_at=NOW - timedelta(seconds=30),
    )
    capped = QueueUsage(None, 7, 0, 300, None, None, None)
    got = samples(
        metrics.build_families(
            snapshot(
                QueueState("busy", 3, NOW, usage=busy),
                QueueState("capped", 0, None, usage=capped),
                QueueState("foreign", 9, NOW),
            ),
            0,
            NOW,
        )
    )
    usage_names = {name for name, *_ in metrics.USAGE_FAMILIES}
    assert {k: v for k, v in got.items() if k[0] in usage_names} == {
        (metrics.IN_FLIGHT, (("queue", "busy"),)): 5.0,
        (metrics.WORKERS, (("queue", "busy"),)): 2.0,
        (metrics.WORKERS_REGISTERED, (("queue", "busy"),)): 3.0,
        (metrics.OLDEST_IN_FLIGHT_AGE, (("queue", "busy"),)): 30.0,
        (metrics.ENQUEUED, (("queue", "busy"),)): 40.0,
        (metrics.ACKED, (("queue", "busy"),)): 30.0,
        (metrics.DEAD_LETTERED, (("queue", "busy"),)): 2.0,
        # above the worker cap: registered only; an unreadable counter: no sample
        (metrics.WORKERS_REGISTERED, (("queue", "capped"),)): 300.0,
        (metrics.ACKED, (("queue", "capped"),)): 7.0,
        (metrics.DEAD_LETTERED, (("queue", "capped"),)): 0.0,
    }
    text = metrics.render(metrics.build_families(snapshot(), 0, NOW)).decode()
    for name in (metrics.ENQUEUED, metrics.ACKED, metrics.DEAD_LETTERED):
        assert f"# TYPE {name} counter" in text


def test_wrong_type_key_has_an_error_series_and_no_depth() -> None:
    got = samples(
        metrics.build_families(snapshot(QueueState("q", None, None, error="WRONGTYPE")), 0, NOW)
    )
    assert got[(metrics.KEY_ERROR, (("error", "WRONGTYPE"), ("queue", "q")))] == 1.0
    assert not [key for key in got if key[0] == metrics.DEPTH]


def test_the_readmes_sample_output_is_what_the_renderer_writes() -> None:
    """The README shows `/metrics` lines as comments after the command (``# redis_queue_...``),
    for the default queues after one push: they must be lines this renderer writes."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    shown = re.findall(r"^# (redis_queue_\w+(?:\{[^}]*\})? \S+)$", readme, flags=re.MULTILINE)
    assert shown
    one_job = snapshot(
        QueueState("enhancement:queue", 1, NOW - timedelta(seconds=2)),
        QueueState("enhancement:dlq", 0, None),
    )
    written = metrics.render(metrics.build_families(one_job, 0.01, NOW)).decode().splitlines()
    assert [line for line in shown if line not in written] == []


def test_render_writes_the_text_format_exactly() -> None:
    families = metrics.build_families(
        snapshot(
            QueueState("a:queue", 3, NOW - timedelta(seconds=1.5)),
            QueueState("b", None, None, error="WRONGTYPE"),
        ),
        0.25,
        NOW,
    )
    text = metrics.render(families).decode()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[:6] == [
        "# HELP redis_queue_up 1 if Redis answered this scrape's PING and read within the "
        "deadline, else 0",
        "# TYPE redis_queue_up gauge",
        "redis_queue_up 1.0",
        "# HELP redis_queue_scrape_duration_seconds Seconds spent reading Redis for this scrape "
        "(bounded by the deadline)",
        "# TYPE redis_queue_scrape_duration_seconds gauge",
        "redis_queue_scrape_duration_seconds 0.25",
    ]
    assert 'redis_queue_depth{queue="a:queue"} 3' in lines
    assert 'redis_queue_oldest_job_age_seconds{queue="a:queue"} 1.500000' in lines
    assert 'redis_queue_key_error{queue="b",error="WRONGTYPE"} 1.0' in lines
    assert "# TYPE redis_queue_aof_enabled gauge" in lines
    # No queue has bookkeeping: its families are announced, without a sample.
    assert "# TYPE redis_queue_jobs_in_flight gauge" in lines
    assert not [line for line in lines if line.startswith("redis_queue_jobs_in_flight")]
    assert parsed(text.encode()) == samples(families)


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ('a"b', 'a\\"b'),
        ("a\\b", "a\\\\b"),
        ("a\nb", "a\\nb"),
        ('\\"\n', '\\\\\\"\\n'),
        ("naïve ✓", "naïve ✓"),
    ],
)
def test_label_values_are_escaped_and_read_back_by_the_prometheus_parser(
    name: str, escaped: str
) -> None:
    families = metrics.build_families(snapshot(QueueState(name, 1, None)), 0, NOW)
    body = metrics.render(families)
    assert f'redis_queue_depth{{queue="{escaped}"}} 1\n'.encode() in body
    assert parsed(body)[(metrics.DEPTH, (("queue", name),))] == 1.0


@pytest.mark.parametrize(
    ("odd_label", "odd_value", "odd_line"),
    [
        ("q3", float("inf"), 'x{queue="q3"} +Inf'),
        ("q3", float("nan"), 'x{queue="q3"} NaN'),
        ("q3", True, 'x{queue="q3"} 1.0'),
        ('q"3', 3, 'x{queue="q\\"3"} 3'),
        ("q\n3", 3.5, 'x{queue="q\\n3"} 3.5'),
    ],
)
def test_one_odd_sample_is_written_carefully_and_so_are_its_neighbours(
    odd_label: str, odd_value: float, odd_line: str
) -> None:
    """A one-label family is written the fast way only when every sample allows it."""
    family = metrics.Family("x", "h", ("queue",))
    family.add(("q1",), 1)
    family.add(("q2",), 0.25)
    family.add((odd_label,), odd_value)
    lines = metrics.render([family]).decode().splitlines()
    assert lines[2:] == ['x{queue="q1"} 1', 'x{queue="q2"} 0.25', odd_line]


@pytest.mark.parametrize(
    ("label", "value", "text"),
    [
        ("q", 1.5, "1.500000"),
        ("q", 1 / 3, "0.333333"),
        ("q", 2, "2.000000"),
        ('q"', 2, "2.000000"),
        ('q"', 1.5, "1.500000"),  # the careful path keeps the decimals
        ("q", float("inf"), "+Inf"),
    ],
)
def test_ages_are_written_with_microsecond_decimals(label: str, value: float, text: str) -> None:
    family = metrics.Family("x", "h", ("queue",), decimals=metrics.AGE_DECIMALS)
    family.add((label,), value)
    assert metrics.render([family]).decode().splitlines()[2].split()[-1] == text


def test_plain_samples_are_written_as_go_parses_them() -> None:
    family = metrics.Family("x", "h", ("queue",))
    for n, value in enumerate((0, 100_000, 1.0, 0.001, 1e-05, 1e20)):
        family.add((f"q{n}",), value)
    values = [line.split()[1] for line in metrics.render([family]).decode().splitlines()[2:]]
    assert values == ["0", "100000", "1.0", "0.001", "1e-05", "1e+20"]


def test_help_escapes_backslash_and_newline_and_keeps_quotes() -> None:
    family = metrics.Family("x", 'say "hi"\\now\nplease')
    family.add((), 1.0)
    assert metrics.render([family]).decode().splitlines()[0] == '# HELP x say "hi"\\\\now\\nplease'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (100_000, "100000"),
        (1.0, "1.0"),
        (0.001, "0.001"),
        (1e-05, "1e-05"),
        (1e20, "1e+20"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        (True, "1.0"),
    ],
)
def test_values_are_written_as_go_parses_them(value: float, text: str) -> None:
    assert metrics.format_value(value) == text


def test_families_with_two_labels_keep_label_order_and_empty_families_are_announced() -> None:
    family = metrics.Family("x", "h", ("queue", "error"))
    family.add(("q", 'E"'), 1.0)
    empty = metrics.Family("y", "h", ("queue",))
    assert metrics.render([family, empty]).decode() == (
        '# HELP x h\n# TYPE x gauge\nx{queue="q",error="E\\""} 1.0\n# HELP y h\n# TYPE y gauge\n'
    )


def test_a_sample_with_the_wrong_number_of_label_values_is_refused() -> None:
    with pytest.raises(ValueError, match="1 label values expected"):
        metrics.Family("x", "h", ("queue",)).add((), 1.0)
