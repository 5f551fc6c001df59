"""The RedisQueue-bound values accept exactly what the CRD accepts.

Both schemas are generated from operator/queue_operator/spec.py (``make generate``), in two
dialects: the CRD's structural schema (enforced by the API server only at install time) and
values.schema.json (enforced by `helm lint`/`template`/`install`). If the chart's dialect came
out looser, a value would render fine and the install fail half-way at the API server; so this
checks the generator: every constraint the CRD puts on a spec field is on the matching
`redisQueue.*` value, with the same pattern, enum, bounds and type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helm import CHART, ROOT, Helm, HelmError, find
from tests.unit.operator.test_manifests import REFUSED

CRD_FILE = ROOT / "manifests" / "crds" / "redisqueues.queues.ai-agents.io.yaml"

# JSON-schema keywords that decide what a value may be.
CONSTRAINTS = (
    "type",
    "pattern",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "format",
)

# Spec fields whose value is built from differently shaped values (not compared key by key).
NOT_MAPPED = {
    # The CRD takes one image string; the chart composes it from repository + tag (the tag
    # defaults to the chart's appVersion). `repository` keeps minLength 1.
    "exporter.image": "composed from redisQueue.exporter.image.repository and .tag",
}

# Constraints only the chart has: (values path under redisQueue, keyword) -> reason.
CHART_ONLY: dict[tuple[str, str], str] = {}


def _spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    (version,) = crd["spec"]["versions"]
    spec: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec


def _values_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def _constraints(node: dict[str, Any]) -> dict[str, Any]:
    """The value constraints of one schema node, in a form both dialects share."""
    out = {k: node[k] for k in CONSTRAINTS if k in node}
    # Kubernetes int-or-string (anyOf integer/string) is JSON schema's type list.
    if "anyOf" in node and all(set(a) == {"type"} for a in node["anyOf"]):
        out["type"] = sorted(a["type"] for a in node["anyOf"])
    elif isinstance(out.get("type"), list):
        out["type"] = sorted(out["type"])
    # A list-type set refuses duplicates, as uniqueItems does.
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if node.get("format") == "int64" and out.get("type") == "integer":
        del out["format"]  # JSON has no int width; the chart's integers are JSON integers
    return out


def _pairs(
    crd: dict[str, Any], chart: dict[str, Any], path: str
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(values path, CRD node, chart node) for every CRD node below ``crd``."""
    yield path, crd, chart
    for name, sub in crd.get("properties", {}).items():
        sub_path = f"{path}.{name}" if path else name
        if sub_path in NOT_MAPPED:
            continue
        assert name in chart.get("properties", {}), (
            f"CRD spec.{sub_path} has no value redisQueue.{sub_path} in values.schema.json"
        )
        yield from _pairs(sub, chart["properties"][name], sub_path)
    if "items" in crd:
        assert "items" in chart, f"redisQueue.{path}: the chart schema has no items schema"
        yield from _pairs(crd["items"], chart["items"], f"{path}[]")
    if isinstance(crd.get("additionalProperties"), dict):
        assert isinstance(chart.get("additionalProperties"), dict), f"redisQueue.{path}"
        yield from _pairs(crd["additionalProperties"], chart["additionalProperties"], f"{path}.*")


def mismatches(spec: dict[str, Any], values: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for path, crd_node, chart_node in _pairs(spec, values, ""):
        ours, theirs = _constraints(chart_node), _constraints(crd_node)
        for key in sorted(set(ours) | set(theirs)):
            if key in theirs and ours.get(key) != theirs[key]:
                problems.append(
                    f"redisQueue.{path}: {key} is {ours.get(key)!r}, the CRD says {theirs[key]!r}"
                )
            elif key not in theirs and (path, key) not in CHART_ONLY:
                problems.append(f"redisQueue.{path}: {key} {ours[key]!r} is not in the CRD")
    return problems


def test_redisqueue_values_have_the_crds_constraints() -> None:
    values = _values_schema()["properties"]["redisQueue"]
    problems = mismatches(_spec_schema(), values)
    assert not problems, "\n".join(problems)


def test_the_comparison_is_not_vacuous() -> None:
    """A loosened pattern, a missing enum and a new CRD field are each reported."""
    spec = _spec_schema()
    values = json.loads(json.dumps(_values_schema()["properties"]["redisQueue"]))
    values["properties"]["persistence"]["properties"]["size"]["pattern"] = ".*"
    tolerations = values["properties"]["scheduling"]["properties"]["tolerations"]
    del tolerations["items"]["properties"]["effect"]["enum"]
    spec = json.loads(json.dumps(spec))
    spec["properties"]["newField"] = {"type": "string"}
    with pytest.raises(AssertionError, match=r"spec\.newField"):
        mismatches(spec, values)
    del spec["properties"]["newField"]
    text = "\n".join(mismatches(spec, values))
    assert "redisQueue.persistence.size: pattern" in text
    assert "redisQueue.scheduling.tolerations[].effect: enum" in text


def test_a_derived_name_the_crd_refuses_fails_rendering(helm: Helm, tmp_path: Path) -> None:
    """An empty redisQueue.name derives from the release name, which may start with a digit
    (a valid release name, not a valid RedisQueue name)."""
    with pytest.raises(HelmError) as caught:
        helm.template(release="1rq", work_dir=tmp_path)
    assert 'redisQueue.name: the RedisQueue name "1rq-redis-queue"' in caught.value.stderr
    rendered = helm.template(release="1rq", values={"redisQueue": {"name": "jobs"}})
    assert any(m["kind"] == "RedisQueue" for m in rendered)


def _leaf_path(node: Any, path: tuple[str, ...]) -> tuple[str, ...]:
    """Path of the (first) offending value inside one refused spec."""
    if isinstance(node, dict) and node:
        key, value = next(iter(node.items()))
        return _leaf_path(value, (*path, str(key)))
    if isinstance(node, list) and node:
        return _leaf_path(node[0], (*path, "0"))
    return path


def _names_path(helm: Helm, message: str, path: tuple[str, ...]) -> bool:
    if helm.major >= 4:
        return f"'/{'/'.join(path)}'" in message
    dotted = ".".join(path)
    return f"{dotted}:" in message or f"- {dotted}" in message


@pytest.mark.parametrize("spec", REFUSED, ids=lambda spec: json.dumps(spec))
def test_helm_refuses_what_the_crd_refuses(
    helm: Helm, spec: dict[str, Any], tmp_path: Path
) -> None:
    """Each spec the CRD refuses (tests/unit/operator) fails `helm template` as chart values."""
    with pytest.raises(HelmError) as caught:
        helm.template(values={"redisQueue": spec}, work_dir=tmp_path)
    message = caught.value.stderr
    assert "values don't meet the specifications of the schema" in message, message
    path = _leaf_path(spec, ("redisQueue",))
    assert _names_path(helm, message, path), (path, message)


def test_an_evicting_policy_needs_its_named_opt_in(helm: Helm, tmp_path: Path) -> None:
    """allkeys-* deletes jobs when Redis is full: the chart refuses it unless asked by name."""
    evicting = {"memory": {"maxmemoryPolicy": "allkeys-lru"}}
    with pytest.raises(HelmError) as caught:
        helm.template(values={"redisQueue": evicting}, work_dir=tmp_path)
    assert "allowEviction" in caught.value.stderr, caught.value.stderr
    values_file = tmp_path / "evicting.yaml"
    values_file.write_text(yaml.safe_dump({"redisQueue": evicting}))
    with pytest.raises(HelmError):
        helm.lint([values_file])
    opted_in = {"memory": {"maxmemoryPolicy": "allkeys-lru", "allowEviction": True}}
    rendered = helm.template(values={"redisQueue": opted_in}, work_dir=tmp_path)
    assert find(rendered, "RedisQueue")["spec"]["memory"] == {
        "maxmemory": "0",
        "maxmemoryPolicy": "allkeys-lru",
        "allowEviction": True,
    }
