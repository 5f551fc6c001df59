"""``make generate``: every file whose shape has one source elsewhere is written from it.

The kubebuilder habit: generated files are committed (reviewers read them, ``kubectl apply -k``
and ``helm install`` use them as they are), and ``make test`` fails while one is stale
(tests/unit/test_generated.py runs :func:`stale`). Targets, in the order they are written (a
later one may read what an earlier one wrote):

1. the RedisQueue CRD, in manifests/crds/ and the chart's crds/ (from queue_operator.spec);
2. the chart's ``redisQueue`` values block, its part of values.schema.json, the name-length
   helper, and the chart README's values table (from the spec and values.yaml's comments);
3. the RedisQueue field table in docs/operator.md (from the spec);
4. manifests/ files the chart renders (operator RBAC and Deployment, autoscaling examples);
5. tests/schemas/: third-party CRD schemas from the pinned Go module sources;
6. deploy/: docker-compose.yml's Prometheus files, the chart's rule file and the compose scrape
   config (from the chart and deploy/prometheus/prometheus.yml);
7. the Grafana dashboard, in deploy/grafana/ and the chart's dashboards/ (from
   codegen/dashboard.py and the exporter's metric names).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Outputs = dict[Path, str]
ROOT = Path(__file__).resolve().parents[1]


def generators() -> list[tuple[str, Callable[[Path], Outputs]]]:
    """(name, outputs function) in writing order; imported lazily so ``--help`` is cheap."""
    from codegen import deploy, targets, upstream_schemas

    return [
        ("crd", targets.crd_files),
        ("chart", targets.chart_files),
        ("docs", targets.doc_files),
        ("manifests", targets.manifest_files),
        ("upstream schemas", lambda _root: upstream_schemas.outputs()),
        ("deploy", deploy.deploy_files),
        ("dashboard", targets.dashboard_files),
    ]


def write(root: Path = ROOT) -> list[Path]:
    """Write every target whose text changed; returns those paths."""
    changed: list[Path] = []
    for _, outputs in generators():
        for relative, text in outputs(root).items():
            path = root / relative
            if not path.exists() or path.read_text() != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                changed.append(relative)
    return changed


def stale(root: Path = ROOT) -> list[Path]:
    """Targets whose committed text differs from what their source makes now."""
    return [
        relative
        for _, outputs in generators()
        for relative, text in outputs(root).items()
        if not (root / relative).exists() or (root / relative).read_text() != text
    ]
