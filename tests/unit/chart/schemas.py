"""Validate custom resources against CRD schemas: ours from manifests/crds, others vendored.

kubernetes-validate knows only built-in kinds. For custom resources, the API server validates
against the CRD's structural schema and (with strict field validation, kubectl's default)
rejects unknown fields; here jsonschema does the same after closing every object schema that
lists ``properties`` without ``additionalProperties`` or ``x-kubernetes-preserve-unknown-fields``.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.support.helm import ROOT

SCHEMAS = ROOT / "tests" / "schemas"
CRD_DIR = ROOT / "manifests" / "crds"

VENDORED = {
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.keda.sh.v1alpha1.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication.keda.sh.v1alpha1.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.monitoring.coreos.com.v1.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.monitoring.coreos.com.v1.yaml",
}


def close_objects(schema: Any) -> Any:
    """A copy of ``schema`` where unknown fields are errors, as strict field validation does."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    # metadata is validated by kubernetes-validate-style checks elsewhere, not by the CRD.
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return schema


def crd_schemas(path: Path) -> dict[tuple[str, str], Any]:
    """(apiVersion, kind) -> closed schema for every served version of a CRD file."""
    found = {}
    for crd in yaml.safe_load_all(path.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            found[(f"{group}/{version['name']}", kind)] = close_objects(schema)
    return found


@cache
def all_schemas() -> dict[tuple[str, str], Any]:
    schemas: dict[tuple[str, str], Any] = {}
    for key, filename in VENDORED.items():
        schemas[key] = close_objects(yaml.safe_load((SCHEMAS / filename).read_text()))
    for path in sorted(CRD_DIR.glob("*.yaml")):
        schemas.update(crd_schemas(path))
    return schemas


def custom_resource_errors(manifest: dict[str, Any]) -> list[str]:
    """Schema errors of a custom resource; KeyError when no schema is known for its kind."""
    schema = all_schemas()[(manifest["apiVersion"], manifest["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]
