"""Values that `helm template` refuses are refused by `helm lint` too, on both majors.

`helm lint` checks values.schema.json against the given values, but it turns a template's
`fail` into an INFO log line and exits 0 (deliberately: helm/helm#8973). So a relation the
schema can say is said there (an autoscaling engine needs a workload), and the template's own
refusals (`redis-queue.refuse` in _helpers.tpl) raise an error lint reports. `helm template`
is `helm install --dry-run` without a cluster: same values checks, same rendering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helm import Helm, HelmError
from tests.unit.chart.test_values_validation import _names_path

WORKER = {"scaleTargetRef": {"name": "worker"}}


def _monitor(interval: str, timeout: str, service_monitor: bool = True) -> dict[str, Any]:
    return {
        "monitoring": {
            "serviceMonitor": {
                "enabled": service_monitor,
                "interval": interval,
                "scrapeTimeout": timeout,
            }
        }
    }


# (id, values, path the schema names, or None for a template refusal, words of the message)
REFUSED: list[tuple[str, dict[str, Any], str | None, str]] = [
    (
        "keda-without-target",
        {"autoscaling": {"engine": "keda"}},
        "autoscaling/scaleTargetRef/name",
        "",
    ),
    (
        "adapter-without-target",
        {"autoscaling": {"engine": "prometheus-adapter"}},
        "autoscaling/scaleTargetRef/name",
        "",
    ),
    (
        "engine-without-exporter",
        {
            "autoscaling": {"engine": "keda", **WORKER},
            "redisQueue": {"exporter": {"enabled": False}},
        },
        None,
        "autoscaling needs redisQueue.exporter.enabled",
    ),
    (
        "min-above-max",
        {"autoscaling": {"engine": "keda", **WORKER, "minReplicas": 5, "maxReplicas": 2}},
        None,
        "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
    ),
    (
        "interval-below-timeout",
        _monitor("5s", "10s"),
        None,
        "monitoring.serviceMonitor.interval 5s is shorter than"
        " monitoring.serviceMonitor.scrapeTimeout 10s",
    ),
    (
        # The rules ConfigMap's scrape-config snippet uses the same pair (on by default).
        "interval-below-timeout-scrape-config",
        _monitor("1m", "1m30s", service_monitor=False),
        None,
        "monitoring.serviceMonitor.interval 1m is shorter than"
        " monitoring.serviceMonitor.scrapeTimeout 1m30s",
    ),
    (
        "interval-below-timeout-mixed-units",
        _monitor("500ms", "1s"),
        None,
        "monitoring.serviceMonitor.interval 500ms is shorter than",
    ),
    (
        "interval-below-timeout-by-a-second",
        _monitor("1m", "1m1s"),
        None,
        "Raise interval to at least 1m1s or lower scrapeTimeout to at most 1m",
    ),
    # Prometheus durations list units from largest to smallest, each once.
    ("duration-unit-order", _monitor("1s1m", "1s"), "monitoring/serviceMonitor/interval", ""),
    (
        "duration-repeated-unit",
        _monitor("15s", "5s5s"),
        "monitoring/serviceMonitor/scrapeTimeout",
        "",
    ),
    ("duration-empty", _monitor("", "10s"), "monitoring/serviceMonitor/interval", ""),
    (
        "alert-for-unit-order",
        {"monitoring": {"alerts": {"redisDown": {"for": "30s1m"}}}},
        "monitoring/alerts/redisDown/for",
        "",
    ),
]
IDS = [c[0] for c in REFUSED]
CASES = [c[1:] for c in REFUSED]


def _check(helm: Helm, message: str, path: str | None, words: str) -> None:
    if path is not None:
        assert _names_path(helm, message, path), message
    assert words in message, message


@pytest.mark.parametrize(("values", "path", "words"), CASES, ids=IDS)
def test_lint_refuses(
    helm: Helm, values: dict[str, Any], path: str | None, words: str, tmp_path: Path
) -> None:
    """Without --strict: an [ERROR], not a warning that only --strict would turn fatal."""
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    with pytest.raises(HelmError) as caught:
        helm.lint([values_file], strict=False)
    _check(helm, str(caught.value), path, words)


@pytest.mark.parametrize(("values", "path", "words"), CASES, ids=IDS)
def test_template_refuses(
    helm: Helm, values: dict[str, Any], path: str | None, words: str, tmp_path: Path
) -> None:
    with pytest.raises(HelmError) as caught:
        helm.template(values=values, work_dir=tmp_path)
    _check(helm, caught.value.stderr, path, words)


@pytest.mark.parametrize(
    ("interval", "timeout"), [("10s", "10s"), ("1m", "59s"), ("1h", "30m"), ("1m30s", "90s")]
)
def test_interval_not_below_timeout_renders(
    helm: Helm, interval: str, timeout: str, tmp_path: Path
) -> None:
    """Equal is allowed (Prometheus' own rule), and units are compared by value, not text."""
    manifests = helm.template(values=_monitor(interval, timeout), work_dir=tmp_path)
    (monitor,) = [m for m in manifests if m["kind"] == "ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == (interval, timeout)


def test_interval_unchecked_when_nothing_scrapes(helm: Helm, tmp_path: Path) -> None:
    """Neither the ServiceMonitor nor the scrape-config snippet renders: the pair is unused."""
    values = _monitor("5s", "10s", service_monitor=False)
    values["monitoring"]["rulesConfigMap"] = {"enabled": False}
    manifests = helm.template(values=values, work_dir=tmp_path)
    assert not [m for m in manifests if m["kind"] == "ServiceMonitor"]
