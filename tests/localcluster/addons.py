"""In-cluster objects the local cluster adds: pure builders returning manifests.

Two groups: the basics every cluster has (CoreDNS' read access, a default StorageClass
with pre-made hostPath volumes), and the monitoring prerequisites the kind path takes from
public charts (kube-state-metrics, Prometheus, prometheus-adapter), here run from images of
binaries built from their Go modules. Every pod passes the restricted Pod Security Standard.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.localcluster.build import tool_image_name
from tests.localcluster.render import Plan

STORAGE_CLASS = "standard"
VOLUMES = 12
VOLUME_SIZE = "1Gi"
MONITORING = "monitoring"
PROMETHEUS_SERVICE = "prometheus-operated"  # the name tests/e2e reads (kube-prometheus-stack's)
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


def dump(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def volume_dirs(plan: Plan) -> list[Path]:
    return [plan.pv_root / f"pv{i:02d}" for i in range(VOLUMES)]


def basics(plan: Plan) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "rqs:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "rqs:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "rqs:coredns",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "rqs:coredns"}
            ],
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
        },
    ]
    for directory in volume_dirs(plan):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"rqs-{directory.name}"},
                "spec": {
                    "capacity": {"storage": VOLUME_SIZE},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "hostPath": {"path": str(directory), "type": "Directory"},
                },
            }
        )
    return objects


def basics_yaml(plan: Plan) -> str:
    return dump(basics(plan))


# --------------------------------------------------------------------------- monitoring


def _restricted_pod(
    name: str, image: str, args: list[str], port: int, *, volumes: list[dict[str, Any]]
) -> dict[str, Any]:
    mounts = [{"name": v["name"], "mountPath": v.pop("mountPath")} for v in volumes]
    return {
        "metadata": {"labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "serviceAccountName": name,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "args": args,
                    "ports": [{"name": "http", "containerPort": port}],
                    "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 2},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
        },
    }


def _deployment(
    name: str, pod: dict[str, Any], port: int, service: str = ""
) -> list[dict[str, Any]]:
    meta = {"name": name, "namespace": MONITORING}
    selector = {"app.kubernetes.io/name": name}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": selector}, "template": pod},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service or name, "namespace": MONITORING},
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": port, "targetPort": port}],
            },
        },
    ]


def _cluster_read(name: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"rqs:{name}"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"rqs:{name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"rqs:{name}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": MONITORING}],
        },
    ]


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": RESTRICTED},
    }


def kube_state_metrics(version: str) -> list[dict[str, Any]]:
    name = "kube-state-metrics"
    pod = _restricted_pod(
        name,
        tool_image_name(name, version),
        [
            "--port=8080",
            "--telemetry-port=8081",
            "--resources=deployments,statefulsets,pods,horizontalpodautoscalers",
        ],
        8080,
        volumes=[],
    )
    read = [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "verbs": ["list", "watch"],
        },
    ]
    return [*_cluster_read(name, read), *_deployment(name, pod, 8080)]


def adapter_config(chart_values: dict[str, Any]) -> dict[str, Any]:
    """prometheus-adapter's config from the chart's values for the adapter chart.

    That chart turns ``rules.external`` into ``externalRules`` of the adapter's config file;
    this is the same mapping, so the adapter runs the chart's rule as a user's would.
    """
    rules = chart_values.get("rules", {})
    config: dict[str, Any] = {}
    for key, target in (("default", None), ("custom", "rules"), ("external", "externalRules")):
        if key != "default" and rules.get(key) and target:
            config[target] = rules[key]
    return config


def prometheus_adapter(version: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    name = "prometheus-adapter"
    pod = _restricted_pod(
        name,
        tool_image_name(name, version),
        [
            f"--prometheus-url=http://{PROMETHEUS_SERVICE}.{MONITORING}.svc:9090",
            "--config=/etc/adapter/config.yaml",
            "--secure-port=6443",
            "--cert-dir=/tmp/certs",
            "--metrics-relist-interval=15s",
        ],
        6443,
        volumes=[
            {
                "name": "config",
                "configMap": {"name": "prometheus-adapter"},
                "mountPath": "/etc/adapter",
            },
            {"name": "certs", "emptyDir": {}, "mountPath": "/tmp"},
        ],
    )
    read = [
        {
            "apiGroups": [""],
            "resources": ["namespaces", "pods", "services"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "rqs:prometheus-adapter:auth-delegator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": MONITORING}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rqs:prometheus-adapter:auth-reader", "namespace": "kube-system"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": MONITORING}],
        },
        # The HPA controller reads external metrics through the aggregated API.
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "rqs:external-metrics-reader"},
            "rules": [
                {
                    "apiGroups": ["external.metrics.k8s.io"],
                    "resources": ["*"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "rqs:external-metrics-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "rqs:external-metrics-reader",
            },
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": "horizontal-pod-autoscaler",
                    "namespace": "kube-system",
                }
            ],
        },
    ]
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.external.metrics.k8s.io"},
        "spec": {
            "group": "external.metrics.k8s.io",
            "version": "v1beta1",
            "service": {"name": name, "namespace": MONITORING, "port": 443},
            # The adapter serves a self-signed certificate it makes at start.
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": MONITORING},
        "data": {"config.yaml": yaml.safe_dump(config, sort_keys=False)},
    }
    objects = _deployment(name, pod, 6443)
    objects[-1]["spec"]["ports"] = [{"name": "https", "port": 443, "targetPort": 6443}]
    return [config_map, *_cluster_read(name, read), *bindings, *objects, api_service]


# --------------------------------------------------------------------------- Prometheus Operator


def _in_monitoring(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Upstream example manifests, moved from ``default`` into the monitoring namespace."""
    moved = []
    for obj in objects:
        obj = json.loads(json.dumps(obj))
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            obj["metadata"]["namespace"] = MONITORING
        for subject in obj.get("subjects", []):
            subject["namespace"] = MONITORING
        moved.append(obj)
    return moved


def prometheus_operator(upstream: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The operator from its own release manifests (example/rbac), with local images.

    Its RBAC is upstream's for that version, unchanged; the Deployment gets our images, no
    kubelet Service to manage, and the restricted profile's seccomp setting.
    """
    objects = _in_monitoring(
        [
            o
            for o in upstream
            if o["kind"] in ("ClusterRole", "ClusterRoleBinding", "ServiceAccount", "Deployment")
        ]
    )
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        pod["securityContext"] = {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        (container,) = pod["containers"]
        container["image"] = tool_image_name("prometheus-operator", version)
        reloader = tool_image_name("prometheus-config-reloader", version)
        container["args"] = [f"--prometheus-config-reloader={reloader}", "--kubelet-service="]
    return objects


def prometheus(
    upstream_rbac: list[dict[str, Any]], prometheus_version: str, server_version: str
) -> list[dict[str, Any]]:
    """One Prometheus selecting every ServiceMonitor and PrometheusRule, as the e2e values of
    kube-prometheus-stack do; the operator makes its StatefulSet and ``prometheus-operated``."""
    name = "rqs"
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "kube-state-metrics", "namespace": MONITORING},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "kube-state-metrics"}},
            # kube-state-metrics' own namespace/deployment labels are the ones the rules read.
            # Every 5 s, as the chart's exporter in the e2e values: band mode reads the current
            # replicas from here, and the scaling tests wait on that signal.
            "endpoints": [{"port": "http", "honorLabels": True, "interval": "5s"}],
        },
    }
    server = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": name, "namespace": MONITORING},
        "spec": {
            "image": tool_image_name("prometheus", prometheus_version),
            "version": server_version,
            "replicas": 1,
            "serviceAccountName": "prometheus",
            "serviceMonitorSelector": {},
            "serviceMonitorNamespaceSelector": {},
            "podMonitorSelector": {},
            "podMonitorNamespaceSelector": {},
            "ruleSelector": {},
            "ruleNamespaceSelector": {},
            "scrapeInterval": "15s",
            "evaluationInterval": "5s",  # the autoscaling signal is a recording rule
            "retention": "2h",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "fsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "resources": {"requests": {"cpu": "50m", "memory": "200Mi"}},
        },
    }
    return [*_in_monitoring(upstream_rbac), monitor, server]


# --------------------------------------------------------------------------- KEDA

KEDA_NAMESPACE = "keda"
KEDA_IMAGES = {  # upstream image repository -> our binary of the same program
    "ghcr.io/kedacore/keda": "keda-operator",
    "ghcr.io/kedacore/keda-metrics-apiserver": "keda-adapter",
}


def keda(upstream: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """KEDA from its own ``config/minimal`` (operator, metrics API server, RBAC, CRDs).

    Only images and commands change: ours, at /bin/<name>; the namespace enforces the
    restricted profile like every other here. Its APIService replaces prometheus-adapter's
    (one external-metrics server per cluster).
    """
    objects = []
    for obj in upstream:
        obj = json.loads(json.dumps(obj))
        if obj["kind"] == "Namespace":
            obj["metadata"].setdefault("labels", {}).update(RESTRICTED)
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            pod.setdefault("securityContext", {})["seccompProfile"] = {"type": "RuntimeDefault"}
            for container in pod["containers"]:
                repository = container["image"].rsplit(":", 1)[0]
                binary = KEDA_IMAGES[repository]
                container["image"] = tool_image_name(binary, version)
                container["command"] = [f"/bin/{binary}"]
        objects.append(obj)
    return objects
