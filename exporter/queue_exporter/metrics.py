"""Every metric this exporter publishes, and the pure function that builds them.

Metric names live here and nowhere else in the package: the chart's alerts, the autoscaling
queries and the operator's docs are tested against the exporter's real output, so one module
to read is one place to keep in step with ``docs/CONTRACTS.md``.

The function is pure (a snapshot in, metric families out) so the rules that matter to an
autoscaler are unit-testable without a server: when Redis is down there is ``redis_queue_up 0``
and *no* depth series, because a made-up 0 would let the autoscaler remove workers during an
outage; a queue whose key is not a list has no depth either, only ``redis_queue_key_error``.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from queue_exporter.snapshot import Snapshot

PREFIX = "redis_queue_"
UP = PREFIX + "up"
DEPTH = PREFIX + "depth"
OLDEST_JOB_AGE = PREFIX + "oldest_job_age_seconds"
PING = PREFIX + "ping_seconds"
SCRAPE_DURATION = PREFIX + "scrape_duration_seconds"
AOF_ENABLED = PREFIX + "aof_enabled"
AOF_LAST_WRITE_OK = PREFIX + "aof_last_write_ok"
AOF_REWRITE_IN_PROGRESS = PREFIX + "aof_rewrite_in_progress"
KEY_ERROR = PREFIX + "key_error"


def build_families(snapshot: Snapshot | None, scrape_seconds: float, now: datetime) -> list[Metric]:
    """Metric families for one scrape; ``snapshot`` is ``None`` when Redis did not answer.

    ``now`` is passed in (not read here) so ages are deterministic in tests and consistent
    across all queues of one scrape.
    """
    up = GaugeMetricFamily(UP, "1 if Redis answered PING during this scrape, else 0")
    up.add_metric([], 1.0 if snapshot is not None else 0.0)
    duration = GaugeMetricFamily(
        SCRAPE_DURATION, "Seconds spent reading Redis for this scrape (bounded by the deadline)"
    )
    duration.add_metric([], scrape_seconds)
    if snapshot is None:
        return [up, duration]

    ping = GaugeMetricFamily(PING, "Round-trip time of this scrape's PING to Redis")
    ping.add_metric([], snapshot.ping_seconds)
    depth = GaugeMetricFamily(DEPTH, "Jobs waiting in the queue (LLEN)", labels=["queue"])
    age = GaugeMetricFamily(
        OLDEST_JOB_AGE,
        "Age of the next job to be processed, from its timestamp field",
        labels=["queue"],
    )
    key_error = GaugeMetricFamily(
        KEY_ERROR,
        "1 when a configured queue key cannot be read as a list (e.g. WRONGTYPE)",
        labels=["queue", "error"],
    )
    for queue in snapshot.queues:
        if queue.error is not None:
            key_error.add_metric([queue.name, queue.error], 1.0)
            continue
        assert queue.depth is not None
        depth.add_metric([queue.name], float(queue.depth))
        if queue.oldest_enqueued_at is not None:
            # Clock skew between producer and exporter must not yield a negative age.
            seconds = (now - queue.oldest_enqueued_at).total_seconds()
            age.add_metric([queue.name], max(0.0, seconds))

    persistence = snapshot.persistence
    aof_enabled = GaugeMetricFamily(AOF_ENABLED, "1 if Redis has appendonly enabled")
    aof_enabled.add_metric([], float(persistence.aof_enabled))
    aof_write = GaugeMetricFamily(AOF_LAST_WRITE_OK, "1 if the last AOF write succeeded")
    aof_write.add_metric([], float(persistence.aof_last_write_ok))
    aof_rewrite = GaugeMetricFamily(AOF_REWRITE_IN_PROGRESS, "1 while an AOF rewrite is running")
    aof_rewrite.add_metric([], float(persistence.aof_rewrite_in_progress))
    return [up, duration, ping, depth, age, key_error, aof_enabled, aof_write, aof_rewrite]
