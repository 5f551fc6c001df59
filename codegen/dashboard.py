"""The Grafana dashboard of a queue, as the dashboard JSON model Grafana 10/11 imports.

One function, :func:`dashboard`, returns it as data; `make generate` writes the same text to
deploy/grafana/ (provisioned into docker-compose.yml's Grafana) and to the chart's dashboards/
(the ``<fullname>-dashboard`` ConfigMap the kube-prometheus-stack Grafana sidecar picks up).
Metric names come from the exporter's one module, so a renamed metric changes the dashboard.

Every exporter query aggregates with ``max by (namespace, service, ...)``: during a rolling
update two exporter pods report the same Redis, and a ``sum`` would double every number. The
queue counters live in Redis (the library's ``<queue>:stats`` hash), not in the exporter, so
``max`` of their rates is right across pods too. The exporter's own scrape errors are per
process, so they are summed. ``namespace`` and ``service`` are the target labels Kubernetes
service discovery gives a scrape (and the compose and test configs set statically).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from queue_exporter.metrics import (
    ACKED,
    AOF_ENABLED,
    AOF_LAST_REWRITE_OK,
    AOF_LAST_WRITE_OK,
    AOF_REWRITE_IN_PROGRESS,
    DEAD_LETTERED,
    DEPTH,
    ENQUEUED,
    IN_FLIGHT,
    KEY_ERROR,
    MEMORY_MAX,
    MEMORY_USED,
    OLDEST_IN_FLIGHT_AGE,
    OLDEST_JOB_AGE,
    PING,
    SCRAPE_ERRORS,
    UP,
    WORKERS,
)

# kube-state-metrics' HPA series (labels namespace, horizontalpodautoscaler).
HPA_CURRENT = "kube_horizontalpodautoscaler_status_current_replicas"
HPA_DESIRED = "kube_horizontalpodautoscaler_status_desired_replicas"
HPA_MAX = "kube_horizontalpodautoscaler_spec_max_replicas"

UID = "redis-queue"
TITLE = "Redis queue"
SCHEMA_VERSION = 39
COLUMNS = 24
RATE_WINDOW = "5m"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Label matchers of the three kinds of series, from the template variables.
REDIS = 'namespace=~"$namespace"'
QUEUE = 'namespace=~"$namespace", queue=~"$queue"'
HPA = 'namespace=~"$namespace", horizontalpodautoscaler=~"$hpa"'
BY_REDIS = "namespace, service"
BY_QUEUE = "namespace, service, queue"
QUEUE_LEGEND = "{{namespace}}/{{service}} {{queue}}"
REDIS_LEGEND = "{{namespace}}/{{service}}"


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A panel before layout: ``width`` columns of the 24, ``height`` grid rows."""

    title: str
    description: str
    targets: Sequence[Target]
    unit: str = "short"
    kind: Literal["timeseries", "stat"] = "timeseries"
    width: int = 12
    height: int = 8
    # Stat panels of 0/1 gauges: the text and colour of each value.
    states: dict[int, tuple[str, str]] = field(default_factory=dict)
    # What a panel without series says instead of "No data", where no series is good news.
    no_value: str | None = None


def _max(by: str, expr: str) -> str:
    return f"max by ({by}) ({expr})"


def _rate(metric: str) -> str:
    return _max(BY_QUEUE, f"rate({metric}{{{QUEUE}}}[{RATE_WINDOW}])")


def _queue(metric: str) -> Target:
    return Target(_max(BY_QUEUE, f"{metric}{{{QUEUE}}}"), QUEUE_LEGEND)


def _redis(metric: str) -> Target:
    return Target(_max(BY_REDIS, f"{metric}{{{REDIS}}}"), REDIS_LEGEND)


def _hpa(metric: str, what: str) -> Target:
    return Target(f"{metric}{{{HPA}}}", f"{{{{horizontalpodautoscaler}}}} {what}")


OK = {0: ("failed", "red"), 1: ("ok", "green")}


def _rows() -> list[tuple[str, list[Panel]]]:
    """The panels, row by row, in reading order."""
    return [
        (
            "Queues",
            [
                Panel(
                    "Jobs waiting",
                    "Jobs waiting in each queue (LLEN): the autoscaler's input.",
                    [_queue(DEPTH)],
                ),
                Panel(
                    "Jobs in flight",
                    "Jobs claimed by workers (reliable consumption) and not yet acknowledged.",
                    [_queue(IN_FLIGHT)],
                ),
                Panel(
                    "Oldest waiting job",
                    "Age of the next job to be processed, from its timestamp.",
                    [_queue(OLDEST_JOB_AGE)],
                    unit="s",
                ),
                Panel(
                    "Oldest job in flight",
                    "How long the longest-held claimed job has been held: a stuck worker shows "
                    "as a line that keeps rising.",
                    [_queue(OLDEST_IN_FLIGHT_AGE)],
                    unit="s",
                ),
            ],
        ),
        (
            "Throughput",
            [
                Panel(
                    "Jobs per second",
                    f"Enqueued and acknowledged per second (rate over {RATE_WINDOW}), counted "
                    "by producers and workers that use the queue library.",
                    [
                        Target(_rate(ENQUEUED), f"{QUEUE_LEGEND} enqueued"),
                        Target(_rate(ACKED), f"{QUEUE_LEGEND} acked"),
                    ],
                    unit="ops",
                    width=8,
                ),
                Panel(
                    "Dead-lettered per second",
                    f"Jobs moved to the dead-letter list per second (rate over {RATE_WINDOW}): "
                    "payloads that could not be decoded. Inspect them with `queuectl dlq list`.",
                    [Target(_rate(DEAD_LETTERED), QUEUE_LEGEND)],
                    unit="ops",
                    width=8,
                ),
                Panel(
                    "Estimated time to drain",
                    f"Jobs waiting divided by the acknowledge rate over {RATE_WINDOW}, if no "
                    "more came; no value while nothing is acknowledged.",
                    [
                        Target(
                            f"{_max(BY_QUEUE, f'{DEPTH}{{{QUEUE}}}')} / ({_rate(ACKED)} > 0)",
                            QUEUE_LEGEND,
                        )
                    ],
                    unit="s",
                    width=8,
                ),
            ],
        ),
        (
            "Workers",
            [
                Panel(
                    "Live workers",
                    "Reliable consumers whose heartbeat is current, per queue.",
                    [_queue(WORKERS)],
                ),
                Panel(
                    "Worker replicas (HPA)",
                    "The worker Deployment's HorizontalPodAutoscaler, from kube-state-metrics: "
                    "current, desired and maximum replicas.",
                    [
                        _hpa(HPA_CURRENT, "current"),
                        _hpa(HPA_DESIRED, "desired"),
                        _hpa(HPA_MAX, "max"),
                    ],
                ),
            ],
        ),
        (
            "Redis",
            [
                Panel(
                    "Redis up",
                    "Whether Redis answered the exporter's last scrape (PING and read).",
                    [_redis(UP)],
                    kind="stat",
                    width=4,
                    height=4,
                    states={0: ("down", "red"), 1: ("up", "green")},
                ),
                Panel(
                    "AOF enabled",
                    "appendonly: without it a Redis restart loses the queue.",
                    [_redis(AOF_ENABLED)],
                    kind="stat",
                    width=4,
                    height=4,
                    states={0: ("off", "red"), 1: ("on", "green")},
                ),
                Panel(
                    "Last AOF write",
                    "Whether Redis' last AOF write succeeded (jobs are durable).",
                    [_redis(AOF_LAST_WRITE_OK)],
                    kind="stat",
                    width=4,
                    height=4,
                    states=OK,
                ),
                Panel(
                    "Last AOF rewrite",
                    "Whether Redis' last AOF rewrite succeeded.",
                    [_redis(AOF_LAST_REWRITE_OK)],
                    kind="stat",
                    width=4,
                    height=4,
                    states=OK,
                ),
                Panel(
                    "AOF rewrite",
                    "Whether an AOF rewrite is running now.",
                    [_redis(AOF_REWRITE_IN_PROGRESS)],
                    kind="stat",
                    width=4,
                    height=4,
                    states={0: ("idle", "green"), 1: ("running", "yellow")},
                ),
                Panel(
                    "Key errors",
                    "Configured queue keys that cannot be read as a list (e.g. WRONGTYPE): "
                    "producers or workers writing them fail. Shown for every queue of the "
                    "selected namespaces: such a key has no depth, so no entry in the Queue list.",
                    [
                        Target(
                            _max(f"{BY_QUEUE}, error", f"{KEY_ERROR}{{{REDIS}}}"),
                            f"{QUEUE_LEGEND} {{{{error}}}}",
                        )
                    ],
                    kind="stat",
                    width=4,
                    height=4,
                    states={1: ("error", "red")},
                    no_value="none",
                ),
                Panel(
                    "Memory",
                    "Bytes Redis has allocated, against its maxmemory (no line without a "
                    "limit). With noeviction a full Redis refuses every new job.",
                    [
                        Target(_max(BY_REDIS, f"{MEMORY_USED}{{{REDIS}}}"), f"{REDIS_LEGEND} used"),
                        Target(_max(BY_REDIS, f"{MEMORY_MAX}{{{REDIS}}}"), f"{REDIS_LEGEND} max"),
                    ],
                    unit="bytes",
                    width=8,
                ),
                Panel(
                    "PING round trip",
                    "The exporter's PING to Redis, per scrape.",
                    [_redis(PING)],
                    unit="s",
                    width=8,
                ),
                Panel(
                    "Exporter scrape errors",
                    f"Failed reads of Redis per second (rate over {RATE_WINDOW}), by reason.",
                    [
                        Target(
                            f"sum by ({BY_REDIS}, reason) "
                            f"(rate({SCRAPE_ERRORS}{{{REDIS}}}[{RATE_WINDOW}]))",
                            f"{REDIS_LEGEND} {{{{reason}}}}",
                        )
                    ],
                    unit="ops",
                    width=8,
                ),
            ],
        ),
    ]


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.states:
        defaults["mappings"] = [
            {
                "type": "value",
                "options": {
                    str(value): {"text": text, "color": color, "index": index}
                    for index, (value, (text, color)) in enumerate(sorted(panel.states.items()))
                },
            }
        ]
    if panel.no_value is not None:
        defaults["noValue"] = panel.no_value
    if panel.kind == "stat":
        defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": "text", "value": None}]}
    return {"defaults": defaults, "overrides": []}


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "auto",
            "justifyMode": "auto",
            "orientation": "auto",
        }
    return {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "datasource": DATASOURCE,
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": target.expr,
                "legendFormat": target.legend,
            }
            for index, target in enumerate(panel.targets)
        ],
        "fieldConfig": _field_config(panel),
        "options": _options(panel),
    }


def _layout(rows: Sequence[tuple[str, Sequence[Panel]]]) -> list[dict[str, Any]]:
    """Row panels and their panels placed left to right, wrapping at 24 columns; ids from 1."""
    panels: list[dict[str, Any]] = []
    y = 0
    for title, members in rows:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": COLUMNS, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x, line_height = 0, 0
        for member in members:
            if x + member.width > COLUMNS:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel(member, len(panels) + 1, x, y))
            x += member.width
            line_height = max(line_height, member.height)
        y += line_height
    return panels


def _query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {},
        "sort": 1,
    }


def dashboard() -> dict[str, Any]:
    """The dashboard JSON model (a fresh dict on every call)."""
    return {
        "uid": UID,
        "title": TITLE,
        "description": (
            "Redis job queues of redis-queue-stack: depth, jobs in flight, ages, rates, "
            "workers and HPA replicas, Redis health. Generated by `make generate` "
            "(codegen/dashboard.py)."
        ),
        "tags": ["redis", "queue"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                },
                _query_variable("namespace", "Namespace", f"label_values({DEPTH}, namespace)"),
                _query_variable(
                    "queue",
                    "Queue",
                    f'label_values({DEPTH}{{namespace=~"$namespace"}}, queue)',
                ),
                _query_variable(
                    "hpa",
                    "HPA",
                    f'label_values({HPA_CURRENT}{{namespace=~"$namespace"}}, '
                    "horizontalpodautoscaler)",
                ),
            ]
        },
        "panels": _layout(_rows()),
    }
