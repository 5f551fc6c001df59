"""`make generate` is the only way a shape changes: stale files fail, and a new spec field
reaches the CRD, the chart's values, schema, README table and rendered RedisQueue by itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import Field

import codegen
from codegen import chart, crd, deploy, targets
from queue_operator.spec import RedisQueueSpec, _Model
from tests.support.helm import CHART, ROOT, Helm, HelmError, find


def test_no_generated_file_is_stale() -> None:
    stale = codegen.stale()
    assert not stale, f"run `make generate`: stale {[str(p) for p in stale]}"


def test_a_stale_file_is_reported(tmp_path: Path) -> None:
    """A hand edit to a generated file (here the chart's CRD copy) is caught, and only it."""
    outputs = [path for _, make in codegen.generators() for path in make(ROOT)]
    for relative in outputs:
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, target)
    edited = Path("charts/redis-queue/crds/redisqueues.queues.ai-agents.io.yaml")
    with (tmp_path / edited).open("a") as handle:
        handle.write("# a hand edit\n")
    (tmp_path / "charts/redis-queue/values.yaml").write_text(
        (ROOT / "charts/redis-queue/values.yaml").read_text()
    )
    # The one hand-written input that no generator writes (codegen/deploy.py reads it).
    shutil.copyfile(ROOT / deploy.LOCAL_CONFIG, tmp_path / deploy.LOCAL_CONFIG)
    assert codegen.stale(tmp_path) == [edited]


class Durability(_Model):
    min_replicas_to_write: int = Field(0, ge=0, description="Replicas that must ack a write.")


class ExtendedSpec(RedisQueueSpec):
    durability: Durability = Field(
        default_factory=Durability, description="How many replicas a write needs."
    )


def test_a_new_spec_field_needs_only_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Add a field to the model, generate into a copy of the chart, and use it."""
    monkeypatch.setattr(crd, "RedisQueueSpec", ExtendedSpec)
    monkeypatch.setattr(chart, "RedisQueueSpec", ExtendedSpec)
    root = tmp_path / "repo"
    shutil.copytree(CHART, root / "charts" / "redis-queue")
    for make in (targets.crd_files, targets.chart_files):
        for relative, text in make(root).items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text)
    copy = root / "charts" / "redis-queue"

    definition = yaml.safe_load(
        (copy / "crds" / "redisqueues.queues.ai-agents.io.yaml").read_text()
    )
    spec_schema = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    field = spec_schema["properties"]["durability"]["properties"]["minReplicasToWrite"]
    assert field == {
        "type": "integer",
        "description": "Replicas that must ack a write.",
        "format": "int64",
        "minimum": 0,
        "default": 0,
    }
    values = yaml.safe_load((copy / "values.yaml").read_text())
    assert values["redisQueue"]["durability"] == {"minReplicasToWrite": 0}
    schema = json.loads((copy / "values.schema.json").read_text())
    assert "durability" in schema["properties"]["redisQueue"]["properties"]
    readme = (copy / "README.md").read_text()
    assert "| `redisQueue.durability.minReplicasToWrite` | `0` | Replicas that must ack" in readme

    helm = Helm.named("helm4")
    rendered = helm.template(
        values={"redisQueue": {"durability": {"minReplicasToWrite": 2}}},
        chart=copy,
        work_dir=tmp_path,
    )
    assert find(rendered, "RedisQueue")["spec"]["durability"] == {"minReplicasToWrite": 2}
    with pytest.raises(HelmError, match="minReplicasToWrite"):
        helm.template(
            values={"redisQueue": {"durability": {"minReplicasToWrite": -1}}},
            chart=copy,
            work_dir=tmp_path,
        )
