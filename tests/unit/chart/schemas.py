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


def python_pattern(go_pattern: str) -> str:
    """``go_pattern`` (RE2, as the API server reads it) in a form Python's re reads the same way.

    RE2 takes a flag group anywhere; Python only at the very start, where ``(?i)^x`` means
    what RE2's ``^(?i)x`` means (upstream writes ``^(?i)(abort|warn)?$``).
    """
    if go_pattern.startswith("^(?i)"):
        return "(?i)^" + go_pattern.removeprefix("^(?i)")
    return go_pattern


def close_objects(schema: Any) -> Any:
    """A copy of ``schema`` where unknown fields are errors, as strict field validation does;
    its patterns are rewritten for Python's re (the vendored files keep upstream's)."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                node["pattern"] = python_pattern(node["pattern"])
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


# The one shape of `anyOf` the API server allows inside an x-kubernetes-int-or-string node.
INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
JUNCTORS = ("allOf", "anyOf", "oneOf")
# Keywords a CRD's openAPIV3Schema may not use at all.
NOT_IN_CRDS = ("$ref", "$schema", "definitions", "id", "patternProperties", "dependencies")
# Keywords that must stay outside allOf/anyOf/oneOf/not, so pruning and defaulting see one type.
NOT_IN_JUNCTORS = ("type", "default", "additionalProperties", "nullable", "description")


def structural_errors(schema: Any) -> list[str]:
    """Why the API server would refuse ``schema`` as a CRD's openAPIV3Schema; [] if it would not.

    The rules of a structural schema (Kubernetes docs, "Specifying a structural schema", and
    apiextensions' validation): every field and array item has a type unless it is
    int-or-string or preserves unknown fields; an int-or-string node has no type and only the
    anyOf [integer, string]; junctors (allOf/anyOf/oneOf/not) set no type, default,
    additionalProperties, nullable or description, and every field or item they mention is
    also specified outside them; arrays have one items schema; properties and
    additionalProperties exclude each other; no $ref; metadata restricts only name and
    generateName. jsonschema would accept a non-structural schema without a word, so vendored
    copies that no cluster would take are caught here.
    """
    errors: list[str] = []

    def node(s: Any, path: str, needs_type: bool) -> None:
        if not isinstance(s, dict):
            errors.append(f"{path}: not a schema object")
            return
        errors.extend(f"{path}: {key} is not allowed in a CRD" for key in NOT_IN_CRDS if key in s)
        int_or_string = s.get("x-kubernetes-int-or-string") is True
        if int_or_string:
            if "type" in s:
                errors.append(f"{path}: x-kubernetes-int-or-string excludes type")
            if s.get("anyOf", INT_OR_STRING) != INT_OR_STRING:
                errors.append(
                    f"{path}: x-kubernetes-int-or-string allows only anyOf {INT_OR_STRING}"
                )
        elif needs_type and not s.get("type") and not s.get("x-kubernetes-preserve-unknown-fields"):
            hint = " (int-or-string needs x-kubernetes-int-or-string: true)" if "anyOf" in s else ""
            errors.append(f"{path}: no type{hint}")
        if s.get("type") == "array" and not isinstance(s.get("items"), dict):
            errors.append(f"{path}: an array needs one items schema")
        if s.get("uniqueItems") is True:
            errors.append(f"{path}: uniqueItems true is not allowed in a CRD")
        extra = s.get("additionalProperties")
        if extra is not None and "properties" in s:
            errors.append(f"{path}: properties and additionalProperties exclude each other")
        if extra is False:
            errors.append(f"{path}: additionalProperties false is not allowed (CRDs prune)")
        for name, sub in s.get("properties", {}).items():
            node(sub, f"{path}.{name}", True)
        if isinstance(extra, dict):
            node(extra, f"{path}.*", True)
        if isinstance(s.get("items"), dict):
            node(s["items"], f"{path}[]", True)
        for junctor in JUNCTORS:
            for index, sub in enumerate(s.get(junctor, [])):
                if not (int_or_string and junctor == "anyOf"):
                    inside(sub, s, f"{path}.{junctor}[{index}]")
        if "not" in s:
            inside(s["not"], s, f"{path}.not")

    def inside(s: Any, outer: dict[str, Any], path: str) -> None:
        if not isinstance(s, dict):
            errors.append(f"{path}: not a schema object")
            return
        errors.extend(
            f"{path}: {key} must not be set inside a junctor" for key in NOT_IN_JUNCTORS if key in s
        )
        for name, sub in s.get("properties", {}).items():
            if name not in outer.get("properties", {}):
                errors.append(f"{path}.{name}: not specified outside the junctor")
            else:
                inside(sub, outer["properties"][name], f"{path}.{name}")
        if "items" in s:
            if not isinstance(outer.get("items"), dict):
                errors.append(f"{path}[]: items not specified outside the junctor")
            else:
                inside(s["items"], outer["items"], f"{path}[]")
        for junctor in JUNCTORS:
            for index, sub in enumerate(s.get(junctor, [])):
                inside(sub, outer, f"{path}.{junctor}[{index}]")
        if "not" in s:
            inside(s["not"], outer, f"{path}.not")

    if not isinstance(schema, dict) or schema.get("type") != "object":
        return ["<root>: type must be object"]
    node(schema, "<root>", True)
    metadata = schema.get("properties", {}).get("metadata", {})
    if set(metadata) - {"type", "properties"} or set(metadata.get("properties", {})) - {
        "name",
        "generateName",
    }:
        errors.append("<root>.metadata: only name and generateName may be restricted")
    return errors
