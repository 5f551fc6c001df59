"""manifests/autoscaling/: plain-YAML autoscaling examples for users without Helm, rendered from
the chart so they cannot drift (tests/unit/chart/test_autoscaling.py compares them).

Regenerate after changing the chart:  .venv/bin/python -m tests.unit.chart.examples
They target the sample RedisQueue `jobs` in `default` (manifests/samples/redisqueue.yaml) and a
worker Deployment named `enhancement-worker`.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.helm import ROOT, Helm, find

EXAMPLES = ROOT / "manifests" / "autoscaling"
NAMESPACE = "default"
VALUES: dict[str, Any] = {
    "fullnameOverride": "jobs",
    "redisQueue": {"name": "jobs"},
    "autoscaling": {"scaleTargetRef": {"name": "enhancement-worker"}},
}
HEADER = (
    "# Generated from charts/redis-queue by `python -m tests.unit.chart.examples`; a test checks\n"
    "# it matches the chart. Targets RedisQueue `jobs` in `default` and Deployment\n"
    "# `enhancement-worker`; edit names to suit. {what}\n"
)


def _plain(manifest: dict[str, Any]) -> dict[str, Any]:
    """The object without Helm's bookkeeping labels."""
    metadata = {k: v for k, v in manifest["metadata"].items() if k != "labels"}
    metadata["labels"] = {
        "app.kubernetes.io/name": "redis-queue",
        "app.kubernetes.io/part-of": "redis-queue-stack",
        "app.kubernetes.io/component": "autoscaling",
    }
    return {**manifest, "metadata": metadata}


def render_examples(helm: Helm) -> dict[str, str]:
    def render(engine: str) -> list[dict[str, Any]]:
        values = {**VALUES, "autoscaling": {**VALUES["autoscaling"], "engine": engine}}
        return helm.template(values=values, release="jobs", namespace=NAMESPACE)

    adapter = render("prometheus-adapter")
    keda = render("keda")
    rules = yaml.safe_load(
        find(adapter, "ConfigMap", "jobs-prometheus")["data"]["redis-queue.rules.yaml"]
    )
    autoscaling_groups = [g for g in rules["groups"] if g["name"].endswith(".autoscaling")]
    adapter_values = find(adapter, "ConfigMap", "jobs-prometheus-adapter")["data"]["values.yaml"]

    def dump(*objects: dict[str, Any]) -> str:
        return yaml.safe_dump_all([_plain(o) for o in objects], sort_keys=False, width=100)

    return {
        "hpa.yaml": HEADER.format(what="Needs recording-rules.yaml and the adapter rule.")
        + dump(find(adapter, "HorizontalPodAutoscaler")),
        "recording-rules.yaml": HEADER.format(
            what="A Prometheus rule file (rule_files:) with the signal."
        )
        + yaml.safe_dump({"groups": autoscaling_groups}, sort_keys=False, width=100),
        "prometheus-adapter-values.yaml": HEADER.format(
            what="Values for the prometheus-adapter chart."
        )
        + adapter_values,
        "scaledobject.yaml": HEADER.format(what="KEDA: ScaledObject + TriggerAuthentication.")
        + dump(find(keda, "ScaledObject"), find(keda, "TriggerAuthentication")),
    }


def main() -> None:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for name, text in render_examples(Helm.named("helm4")).items():
        (EXAMPLES / name).write_text(text)
        print(f"wrote {EXAMPLES / name}")


if __name__ == "__main__":
    main()
