"""Every manifest the project ships or the operator generates, against real schemas.

kubernetes-validate carries the OpenAPI schemas of Kubernetes releases; the CRD's own schema
(with jsonschema) checks the samples, and structural-schema rules are checked by walking it.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from queue_operator.builders import build_children, build_secret
from queue_operator.naming import Owner
from queue_operator.spec import RedisQueueSpec, parse_spec

# A current release that kubernetes-validate ships schemas for.
KUBERNETES_VERSION = "1.34.0"
ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "manifests"
CRD_FILE = MANIFESTS / "crds" / "redisqueues.queues.ai-agents.io.yaml"
OWNER = Owner(name="jobs", namespace="work", uid="0a6c5f7e-1111-2222-3333-444455556666")

# Specs both the CRD schema and the operator must refuse. Unknown fields are left out: a
# structural schema prunes them (kubectl's strict field validation reports them).
REFUSED: list[dict[str, Any]] = [
    {"persistence": {"appendfsync": "sometimes"}},
    {"persistence": {"size": "0"}},
    {"persistence": {"size": "lots"}},
    {"persistence": {"size": "1.5Gi"}},
    {"memory": {"maxmemory": "2 GB"}},
    {"memory": {"maxmemoryPolicy": "lru"}},
    {"queues": []},
    {"queues": ["has space"]},
    {"imagePullPolicy": "Sometimes"},
    {"auth": {"existingSecret": "Not_A_Name"}},
    {"scheduling": {"tolerations": [{"operator": "In"}]}},
    {"resources": {"limits": {"memory": "a lot"}}},
    {"exporter": {"enabled": "yes"}},
    {"image": ""},
]


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def crd() -> dict[str, Any]:
    (found,) = documents(CRD_FILE)
    return found


def crd_schema() -> dict[str, Any]:
    (version,) = crd()["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def spec_schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd_schema()["properties"]["spec"]
    return schema


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.rglob("*.y*ml") if p.name != "kustomization.yaml")


def k8s_validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_every_manifest_file_is_valid(path: Path) -> None:
    for doc in documents(path):
        if not {"apiVersion", "kind"} <= set(doc):
            continue  # not a Kubernetes object (Helm values, Prometheus rule files)
        if doc["kind"] == "RedisQueue":
            jsonschema.validate(doc, crd_schema())
            parse_spec(doc["metadata"]["name"], doc.get("spec"))
            continue
        try:
            k8s_validate(doc)
        except kubernetes_validate.SchemaNotFoundError:
            # Third-party kinds (KEDA, Prometheus operator) have no schema in Kubernetes itself.
            assert "." in doc["apiVersion"].split("/")[0], doc["apiVersion"]
            assert not doc["apiVersion"].endswith("k8s.io/v1"), doc["apiVersion"]


def test_kustomization_installs_crd_rbac_and_operator() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    listed = {MANIFESTS / item for item in kustomization["resources"]}
    assert all(path.exists() for path in listed)
    for folder in ("crds", "rbac", "operator"):
        assert set((MANIFESTS / folder).glob("*.yaml")) <= listed, folder
    kinds = {doc["kind"] for path in listed for doc in documents(path)}
    assert {"CustomResourceDefinition", "ClusterRole", "Deployment"} <= kinds


def kubectl() -> str:
    """The pinned kubectl from `make tools` (.tools/bin), else one on PATH."""
    pinned = ROOT / ".tools" / "bin" / "kubectl"
    found = str(pinned) if pinned.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("no kubectl: run `make tools` (installs .tools/bin/kubectl)")
    return found


def test_kustomize_builds_and_every_object_is_valid() -> None:
    """What `kubectl apply -k manifests/` would send, built by kubectl's own kustomize."""
    built = subprocess.run(
        [kubectl(), "kustomize", str(MANIFESTS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    objects = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    kinds = sorted(doc["kind"] for doc in objects)
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "Namespace",
        "ServiceAccount",
    ]
    for obj in objects:
        k8s_validate(obj)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        yaml.safe_load((MANIFESTS / "samples" / "redisqueue.yaml").read_text())["spec"],
        {
            "auth": {"existingSecret": "mine"},
            "persistence": {"storageClassName": "fast", "keepOnDelete": False},
            "scheduling": {
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 1,
                                "podAffinityTerm": {
                                    "topologyKey": "kubernetes.io/hostname",
                                    "labelSelector": {"matchLabels": {"a": "b"}},
                                },
                            }
                        ]
                    }
                },
                "priorityClassName": "high",
            },
        },
        {"exporter": {"enabled": False}, "podDisruptionBudget": {"enabled": False}},
    ],
)
def test_every_generated_object_is_valid(raw: dict[str, Any]) -> None:
    spec = parse_spec(OWNER.name, raw)
    for obj in [*build_children(OWNER, spec, secret_checksum="x"), build_secret(OWNER, spec, "pw")]:
        k8s_validate(obj)


def test_crd_identity() -> None:
    body = crd()
    assert body["metadata"]["name"] == "redisqueues.queues.ai-agents.io"
    names = body["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == (
        "RedisQueue",
        "redisqueues",
        ["rqueue"],
    )
    assert body["spec"]["scope"] == "Namespaced"
    (version,) = body["spec"]["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Ready", "Depth", "Endpoint", "Age"]


def schema_nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


def test_crd_schema_is_structural() -> None:
    """Types everywhere, no unknown fields escaping, junctors only for int-or-string."""
    for path, node in schema_nodes(crd_schema()):
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert "type" in node, f"{path} has no type"
        assert not {"anyOf", "allOf", "oneOf", "not"} & set(node), path
        if node["type"] == "object" and path not in {".metadata"}:
            preserves = node.get("x-kubernetes-preserve-unknown-fields") is True
            assert preserves or "properties" in node or "additionalProperties" in node, path
            if preserves:
                assert path == ".spec.scheduling.affinity", f"{path} lets unknown fields in"
        if node["type"] == "array":
            assert "items" in node, path


def test_crd_defaults_are_valid_against_their_own_schema() -> None:
    for _, node in schema_nodes(crd_schema()):
        if "default" in node:
            schema = {k: v for k, v in node.items() if k != "default"}
            jsonschema.validate(node["default"], schema)


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """The API server's defaulting: missing properties get their default, recursively."""
    if schema.get("type") == "object" and isinstance(value, dict):
        result = dict(value)
        for name, child in schema.get("properties", {}).items():
            if name not in result and "default" in child:
                result[name] = copy.deepcopy(child["default"])
            if name in result:
                result[name] = apply_defaults(child, result[name])
        return result
    if schema.get("type") == "array" and isinstance(value, list):
        return [apply_defaults(schema.get("items", {}), item) for item in value]
    return value


def test_crd_defaults_match_the_operator_model() -> None:
    defaulted = apply_defaults(spec_schema(), {})
    model = RedisQueueSpec().model_dump(by_alias=True, mode="json")
    assert defaulted == model


@pytest.mark.parametrize("raw", REFUSED, ids=lambda raw: str(raw))
def test_crd_and_operator_refuse_the_same_specs(raw: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(apply_defaults(spec_schema(), raw), spec_schema())
    with pytest.raises(ValueError):  # noqa: PT011 - each case fails on a different field
        parse_spec("jobs", raw)


# Tolerations the API server refuses in a pod, by the CRD rule (CEL) that refuses each.
REFUSED_TOLERATIONS = {
    "a toleration with operator Exists must not have a value": {
        "key": "k",
        "operator": "Exists",
        "value": "v",
    },
    "a toleration without a key must use operator Exists": {"operator": "Equal", "value": "v"},
    "tolerationSeconds needs effect NoExecute": {"key": "k", "tolerationSeconds": 5},
}


def test_crd_carries_the_api_servers_toleration_rules() -> None:
    """jsonschema cannot evaluate CEL (and no CEL evaluator is installed here), so this checks
    that each rule is on the toleration items, and that the operator refuses the same toleration
    with the same message; kind (tests/e2e) is where the API server itself evaluates them."""
    items = spec_schema()["properties"]["scheduling"]["properties"]["tolerations"]["items"]
    rules = {rule["message"]: rule["rule"] for rule in items["x-kubernetes-validations"]}
    assert set(rules) == set(REFUSED_TOLERATIONS)
    assert (
        "self.operator != 'Exists'"
        in rules["a toleration with operator Exists must not have a value"]
    )
    for message, toleration in REFUSED_TOLERATIONS.items():
        with pytest.raises(ValueError, match=message):
            parse_spec("jobs", {"scheduling": {"tolerations": [toleration]}})


def test_crd_accepts_what_the_operator_accepts() -> None:
    sample = yaml.safe_load((MANIFESTS / "samples" / "redisqueue.yaml").read_text())
    spec = parse_spec("jobs", sample["spec"]).model_dump(by_alias=True, mode="json")
    jsonschema.validate(spec, spec_schema())
