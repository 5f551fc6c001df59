"""Invalid values fail `helm template` with a message that names the value, on both majors.

Helm 3 (gojsonschema) writes `- autoscaling.engine: ...`, Helm 4 (santhosh-tekuri/jsonschema)
writes `at '/autoscaling/engine': ...`; each case gives the path once and the expected wording
per major. Relations the schema cannot express are `fail` calls in _helpers.tpl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.helm import Helm, HelmError

WORKER = {"scaleTargetRef": {"name": "worker"}}

# (id, values, path of the offending value, words expected in the message (both majors))
SCHEMA_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("engine-typo", {"autoscaling": {"engine": "kedaa"}}, "autoscaling/engine", "keda"),
    ("mode-enum", {"autoscaling": {"mode": "hysteresis"}}, "autoscaling/mode", "band"),
    (
        "unknown-key",
        {"redisQueue": {"persistance": {"size": "1Gi"}}},
        "redisQueue",
        "persistance",
    ),
    (
        "unknown-nested-key",
        {"autoscaling": {"thresholds": {"scaleUp": 50}}},
        "autoscaling/thresholds",
        "scaleUp",
    ),
    (
        "threshold-minimum",
        {"autoscaling": {"thresholds": {"scaleUpPerWorker": 0}}},
        "autoscaling/thresholds/scaleUpPerWorker",
        "1",
    ),
    (
        "appendfsync-enum",
        {"redisQueue": {"persistence": {"appendfsync": "sometimes"}}},
        "redisQueue/persistence/appendfsync",
        "everysec",
    ),
    (
        "evicting-typo",
        {"redisQueue": {"memory": {"maxmemoryPolicy": "lru"}}},
        "redisQueue/memory/maxmemoryPolicy",
        "noeviction",
    ),
    (
        "size-pattern",
        {"redisQueue": {"persistence": {"size": "1 GB"}}},
        "redisQueue/persistence/size",
        "",
    ),
    ("queue-pattern", {"redisQueue": {"queues": ["bad queue"]}}, "redisQueue/queues/0", ""),
    ("queues-empty", {"redisQueue": {"queues": []}}, "redisQueue/queues", ""),
    (
        "min-replicas-type",
        {"autoscaling": {"minReplicas": "two"}},
        "autoscaling/minReplicas",
        "integer",
    ),
    (
        "label-value",
        {"autoscaling": {"queueLabelValue": "enhancement:queue"}},
        "autoscaling/queueLabelValue",
        "",
    ),
    ("common-label", {"commonLabels": {"team": "a b"}}, "commonLabels/team", ""),
    (
        "behavior-policy",
        {"autoscaling": {"behavior": {"scaleUp": {"policies": [{"type": "Jobs", "value": 1}]}}}},
        "autoscaling/behavior/scaleUp/policies/0",
        "",
    ),
    (
        "alert-duration",
        {"monitoring": {"alerts": {"depthHigh": {"for": "ten minutes"}}}},
        "monitoring/alerts/depthHigh/for",
        "",
    ),
    (
        "memory-fraction",
        {"monitoring": {"alerts": {"memoryNearMax": {"threshold": 90}}}},
        "monitoring/alerts/memoryNearMax/threshold",
        "",
    ),
    ("name-too-long", {"redisQueue": {"name": "q" * 47}}, "redisQueue/name", ""),
    # An engine needs the workload it scales (if/then in the schema, so `helm lint` refuses
    # it too: test_lint_refuses.py).
    ("target-required", {"autoscaling": {"engine": "keda"}}, "autoscaling/scaleTargetRef/name", ""),
]


def _names_path(helm: Helm, message: str, path: str) -> bool:
    if helm.major >= 4:
        return f"'/{path}'" in message
    return f"{path.replace('/', '.')}:" in message or f"- {path.replace('/', '.')}" in message


@pytest.mark.parametrize(
    ("values", "path", "words"),
    [c[1:] for c in SCHEMA_CASES],
    ids=[c[0] for c in SCHEMA_CASES],
)
def test_schema_rejects(
    helm: Helm, values: dict[str, Any], path: str, words: str, tmp_path: Path
) -> None:
    with pytest.raises(HelmError) as caught:
        helm.template(values=values, work_dir=tmp_path)
    message = caught.value.stderr
    assert "values don't meet the specifications of the schema" in message, message
    assert _names_path(helm, message, path), message
    assert words in message, message


# Cross-field rules: `fail` messages name the values.
FAIL_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "queue-not-watched",
        {"autoscaling": {"engine": "keda", "queue": "other:queue", **WORKER}},
        'autoscaling.queue "other:queue" must be one of redisQueue.queues',
    ),
    (
        "band-inverted",
        {
            "autoscaling": {
                "engine": "prometheus-adapter",
                **WORKER,
                "thresholds": {"scaleUpPerWorker": 10, "scaleDownPerWorker": 50},
            }
        },
        "autoscaling.thresholds.scaleDownPerWorker must be lower than",
    ),
    (
        "min-above-max",
        {"autoscaling": {"engine": "keda", **WORKER, "minReplicas": 5, "maxReplicas": 2}},
        "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
    ),
    (
        "no-exporter",
        {
            "autoscaling": {"engine": "keda", **WORKER},
            "redisQueue": {"exporter": {"enabled": False}},
        },
        "autoscaling needs redisQueue.exporter.enabled",
    ),
]


@pytest.mark.parametrize(
    ("values", "expected"), [c[1:] for c in FAIL_CASES], ids=[c[0] for c in FAIL_CASES]
)
def test_template_fails_on_inconsistent_values(
    helm: Helm, values: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    with pytest.raises(HelmError) as caught:
        helm.template(values=values, work_dir=tmp_path)
    assert expected in caught.value.stderr, caught.value.stderr


def test_valid_overrides_pass(helm: Helm, tmp_path: Path) -> None:
    """The same keys with valid values render: the failures above are about the values."""
    manifests = helm.template(
        values={
            "autoscaling": {"engine": "keda", **WORKER, "mode": "proportional"},
            "redisQueue": {"persistence": {"appendfsync": "always", "size": "2Gi"}},
            "commonLabels": {"team": "queues"},
        },
        work_dir=tmp_path,
    )
    assert manifests
