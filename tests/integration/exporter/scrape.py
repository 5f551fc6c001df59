"""Reading the exporter's /metrics output the way Prometheus does (its own text parser)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(body: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def depth(samples: Samples, queue: str) -> float | None:
    return samples.get(("redis_queue_depth", (("queue", queue),)))


def depth_series(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["queue"]: v for (n, labels), v in samples.items() if n == "redis_queue_depth"
    }
