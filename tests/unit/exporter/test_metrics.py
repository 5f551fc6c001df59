"""Metric families from a snapshot: the rules an autoscaler and the alerts depend on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from queue_exporter import metrics
from queue_exporter.collector import _Families
from queue_exporter.snapshot import PersistenceState, QueueState, Snapshot

NOW = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
PERSISTENCE = PersistenceState(
    aof_enabled=True,
    aof_last_write_ok=True,
    aof_rewrite_in_progress=False,
    aof_last_rewrite_ok=True,
    loading=False,
)


def samples(families: list[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def snapshot(*queues: QueueState) -> Snapshot:
    return Snapshot(queues=queues, persistence=PERSISTENCE, ping_seconds=0.001, taken_at=NOW)


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


def test_future_timestamp_gives_zero_age_not_negative() -> None:
    got = samples(
        metrics.build_families(snapshot(QueueState("q", 1, NOW + timedelta(seconds=5))), 0, NOW)
    )
    assert got[(metrics.OLDEST_JOB_AGE, (("queue", "q"),))] == 0.0


def test_wrong_type_key_has_an_error_series_and_no_depth() -> None:
    got = samples(
        metrics.build_families(snapshot(QueueState("q", None, None, error="WRONGTYPE")), 0, NOW)
    )
    assert got[(metrics.KEY_ERROR, (("error", "WRONGTYPE"), ("queue", "q")))] == 1.0
    assert not [key for key in got if key[0] == metrics.DEPTH]


def test_every_name_has_the_prefix_and_no_counter_suffix() -> None:
    names = [value for key, value in vars(metrics).items() if key.isupper() and key != "PREFIX"]
    assert names
    for name in names:
        assert name.startswith("redis_queue_")
        assert not name.endswith("_total")


def test_exposition_escapes_label_values() -> None:
    text = generate_latest(
        _Families(metrics.build_families(snapshot(QueueState('a"b', 1, None)), 0, NOW))
    ).decode()
    assert 'redis_queue_depth{queue="a\\"b"} 1.0' in text
