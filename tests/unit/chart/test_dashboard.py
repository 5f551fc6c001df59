"""The Grafana dashboard: its JSON against a model of the part of Grafana's dashboard JSON it
uses (unknown keys are errors, so a typo fails here rather than as a blank panel), its layout,
its queries under promtool, its variables; and the chart's ConfigMap that ships it.

Whether each query returns data from the real exporter is
tests/integration/chart/test_dashboard_queries.py.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codegen.dashboard import UID, dashboard
from codegen.targets import DASHBOARDS
from tests.support.grafana import panel_targets, strings, substitute, variables_in
from tests.support.helm import RELEASE, ROOT, Helm, HelmError, find
from tests.unit.chart.test_values_validation import _names_path

COLUMNS = 24
CONFIG_MAP = f"{RELEASE}-redis-queue-dashboard"
DATA_KEY = "redis-queue.json"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DataSourceRef(Strict):
    type: Literal["prometheus"]
    uid: str


class GridPos(Strict):
    h: int = Field(ge=1)
    w: int = Field(ge=1, le=COLUMNS)
    x: int = Field(ge=0, lt=COLUMNS)
    y: int = Field(ge=0)


class Target(Strict):
    refId: str = Field(pattern=r"^[A-Z]$")
    datasource: DataSourceRef
    expr: str = Field(min_length=1)
    legendFormat: str


class MappingResult(Strict):
    text: str
    color: str
    index: int


class ValueMapping(Strict):
    type: Literal["value"]
    options: dict[str, MappingResult]


class ThresholdStep(Strict):
    color: str
    value: float | None


class Thresholds(Strict):
    mode: Literal["absolute", "percentage"]
    steps: list[ThresholdStep] = Field(min_length=1)


class FieldDefaults(Strict):
    unit: Literal["short", "s", "ops", "bytes"]
    mappings: list[ValueMapping] = []
    thresholds: Thresholds | None = None
    noValue: str | None = None


class FieldConfig(Strict):
    defaults: FieldDefaults
    overrides: list[dict[str, Any]]


class Legend(Strict):
    displayMode: Literal["list", "table", "hidden"]
    placement: Literal["bottom", "right"]
    showLegend: bool


class Tooltip(Strict):
    mode: Literal["single", "multi", "none"]
    sort: Literal["none", "asc", "desc"]


class TimeseriesOptions(Strict):
    legend: Legend
    tooltip: Tooltip


class ReduceOptions(Strict):
    calcs: list[Literal["lastNotNull", "last", "mean", "max", "min"]] = Field(min_length=1)
    fields: str
    values: bool


class StatOptions(Strict):
    reduceOptions: ReduceOptions
    colorMode: Literal["value", "background", "background_solid", "none"]
    graphMode: Literal["none", "area"]
    textMode: Literal["auto", "value", "value_and_name", "name", "none"]
    justifyMode: Literal["auto", "center"]
    orientation: Literal["auto", "horizontal", "vertical"]


class QueryPanel(Strict):
    id: int
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    gridPos: GridPos
    datasource: DataSourceRef
    targets: list[Target] = Field(min_length=1)
    fieldConfig: FieldConfig


class TimeseriesPanel(QueryPanel):
    type: Literal["timeseries"]
    options: TimeseriesOptions


class StatPanel(QueryPanel):
    type: Literal["stat"]
    options: StatOptions


class RowPanel(Strict):
    type: Literal["row"]
    id: int
    title: str = Field(min_length=1)
    collapsed: Literal[False]  # an expanded row lists its panels at the top level, not inside
    gridPos: GridPos
    panels: list[Any] = Field(max_length=0)


Panel = Annotated[TimeseriesPanel | StatPanel | RowPanel, Field(discriminator="type")]


class DatasourceVariable(Strict):
    type: Literal["datasource"]
    name: str
    label: str
    query: Literal["prometheus"]
    current: dict[str, Any]


class QueryVariable(Strict):
    type: Literal["query"]
    name: str
    label: str
    datasource: DataSourceRef
    definition: str
    query: str = Field(pattern=r"^label_values\(")
    refresh: Literal[1, 2]
    multi: bool
    includeAll: bool
    allValue: str | None
    current: dict[str, Any]
    sort: int


Variable = Annotated[DatasourceVariable | QueryVariable, Field(discriminator="type")]


class Templating(Strict):
    variables: list[Variable] = Field(alias="list")


class TimeRange(Strict):
    from_: str = Field(alias="from")
    to: str


class Annotations(Strict):
    annotations: list[dict[str, Any]] = Field(alias="list")


class Dashboard(Strict):
    uid: str
    title: str
    description: str
    tags: list[str]
    editable: bool
    graphTooltip: Literal[0, 1, 2]
    schemaVersion: int = Field(ge=36)
    version: int
    refresh: str
    time: TimeRange
    timezone: Literal["browser", "utc", ""]
    annotations: Annotations
    links: list[dict[str, Any]]
    templating: Templating
    panels: list[Panel] = Field(min_length=1)


@pytest.fixture(scope="module")
def model() -> Dashboard:
    return Dashboard.model_validate(dashboard())


@pytest.mark.parametrize("path", DASHBOARDS, ids=[str(p) for p in DASHBOARDS])
def test_the_committed_files_are_the_generated_dashboard(path: Path) -> None:
    committed = json.loads((ROOT / path).read_text())
    Dashboard.model_validate(committed)
    assert committed == dashboard()


def test_the_dashboard_fits_the_model(model: Dashboard) -> None:
    assert model.uid == UID == "redis-queue"
    assert model.title == "Redis queue"
    names = [v.name for v in model.templating.variables]
    assert names == ["datasource", "namespace", "queue", "hpa"]
    for variable in model.templating.variables:
        if isinstance(variable, QueryVariable):
            assert variable.multi, variable.name
            assert variable.includeAll, variable.name
            assert variable.datasource.uid == "${datasource}", variable.name
    for panel in model.panels:
        if not isinstance(panel, RowPanel):
            assert panel.datasource.uid == "${datasource}", panel.title
            assert all(t.datasource == panel.datasource for t in panel.targets), panel.title


@pytest.mark.parametrize(
    ("where", "edit"),
    [
        ("target", lambda d: d["panels"][1]["targets"][0].update(legendFormt="x")),
        ("panel", lambda d: d["panels"][1].update(tittle="x")),
        ("gridPos", lambda d: d["panels"][1]["gridPos"].update(w=COLUMNS + 1)),
        ("panel type", lambda d: d["panels"][1].update(type="graph")),
        ("variable", lambda d: d["templating"]["list"][1].update(multiple=True)),
    ],
)
def test_the_model_refuses_a_typo(where: str, edit: Any) -> None:
    """The model is strict enough to catch what Grafana would silently ignore."""
    broken = copy.deepcopy(dashboard())
    edit(broken)
    with pytest.raises(ValidationError):
        Dashboard.model_validate(broken)


def test_panel_ids_and_ref_ids_are_unique(model: Dashboard) -> None:
    ids = [panel.id for panel in model.panels]
    assert len(ids) == len(set(ids)), ids
    for panel in model.panels:
        if not isinstance(panel, RowPanel):
            refs = [t.refId for t in panel.targets]
            assert len(refs) == len(set(refs)), panel.title


def test_panels_fit_24_columns_and_do_not_overlap(model: Dashboard) -> None:
    boxes = [(p.title, p.gridPos) for p in model.panels]
    for title, box in boxes:
        assert box.x + box.w <= COLUMNS, title
    for i, (first, a) in enumerate(boxes):
        for second, b in boxes[i + 1 :]:
            apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
            assert apart, f"{first!r} overlaps {second!r}"


def test_every_variable_used_is_defined_before_use() -> None:
    """Panels may use every variable; a variable's query only those defined before it."""
    document = dashboard()
    variables = document["templating"]["list"]
    defined: set[str] = set()
    for variable in variables:
        used = set().union(*(variables_in(s) for s in strings(variable)))
        assert used <= defined, f"{variable['name']} uses {used - defined}"
        defined.add(variable["name"])
    used_by_panels = set().union(*(variables_in(s) for s in strings(document["panels"])))
    assert used_by_panels <= defined, used_by_panels - defined
    assert {"namespace", "queue", "hpa", "datasource"} <= used_by_panels


def test_every_query_parses(tmp_path: Path) -> None:
    """promtool parses each query offline, as a recording rule, after Grafana's substitution."""
    values = {"namespace": "queues", "queue": "enhancement:queue", "hpa": "worker"}
    queries = [t.expr for t in panel_targets(dashboard())]
    queries += [v["query"] for v in dashboard()["templating"]["list"] if v["type"] == "query"]
    rules = [
        {"record": f"dashboard:query_{index}", "expr": substitute(expr, values)}
        for index, expr in enumerate(queries)
        if not expr.startswith("label_values(")
    ]
    # label_values(metric{...}, label) is Grafana's, not PromQL; its selector is.
    rules += [
        {
            "record": f"dashboard:variable_{index}",
            "expr": substitute(expr.removeprefix("label_values(").rsplit(",", 1)[0], values),
        }
        for index, expr in enumerate(queries)
        if expr.startswith("label_values(")
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout, out.stdout
    assert len(rules) == len(queries)


def test_the_configmap_is_rendered_only_when_enabled(helm: Helm, tmp_path: Path) -> None:
    manifests = helm.template(work_dir=tmp_path)
    assert not [m for m in manifests if m["metadata"]["name"] == CONFIG_MAP]
    manifests = helm.template(
        values={"monitoring": {"dashboard": {"enabled": True}}}, work_dir=tmp_path
    )
    config_map = find(manifests, "ConfigMap", CONFIG_MAP)
    labels = config_map["metadata"]["labels"]
    assert labels["grafana_dashboard"] == "1"
    assert labels["app.kubernetes.io/component"] == "monitoring"
    assert "annotations" not in config_map["metadata"]
    assert list(config_map["data"]) == [DATA_KEY]
    assert json.loads(config_map["data"][DATA_KEY]) == dashboard()


def test_labels_and_annotations_for_the_sidecar(helm: Helm, tmp_path: Path) -> None:
    """A sidecar configured with another labelValue, and its folder annotation."""
    manifests = helm.template(
        values={
            "monitoring": {
                "dashboard": {
                    "enabled": True,
                    "labels": {"grafana_dashboard": "queues", "team": "jobs"},
                    "annotations": {"grafana_folder": "Queues"},
                }
            }
        },
        work_dir=tmp_path,
    )
    metadata = find(manifests, "ConfigMap", CONFIG_MAP)["metadata"]
    assert metadata["labels"]["grafana_dashboard"] == "queues"
    assert metadata["labels"]["team"] == "jobs"
    assert metadata["annotations"] == {"grafana_folder": "Queues"}


@pytest.mark.parametrize(
    ("dashboard_values", "path", "words"),
    [
        ({"enabled": "yes"}, "monitoring/dashboard/enabled", "boolean"),
        ({"enabled": True, "label": {"a": "b"}}, "monitoring/dashboard", "label"),
        (
            {"enabled": True, "annotations": {"grafana_folder": 1}},
            "monitoring/dashboard/annotations/grafana_folder",
            "string",
        ),
        (
            {"enabled": True, "labels": {"grafana_dashboard": "a b"}},
            "monitoring/dashboard/labels/grafana_dashboard",
            "",
        ),
    ],
    ids=["enabled-string", "unknown-key", "annotation-number", "label-value"],
)
def test_bad_values_fail_through_the_schema(
    helm: Helm, dashboard_values: dict[str, Any], path: str, words: str, tmp_path: Path
) -> None:
    with pytest.raises(HelmError) as caught:
        helm.template(values={"monitoring": {"dashboard": dashboard_values}}, work_dir=tmp_path)
    message = caught.value.stderr
    assert "values don't meet the specifications of the schema" in message, message
    assert _names_path(helm, message, path), message
    assert words in message, message
