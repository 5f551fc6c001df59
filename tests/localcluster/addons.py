"""In-cluster objects the local cluster adds: pure builders returning manifests.

Two groups: the basics every cluster has (CoreDNS' read access, a default StorageClass
with pre-made hostPath volumes), and the monitoring prerequisites the kind path takes from
public charts (kube-state-metrics, Prometheus, prometheus-adapter), here run from images of
binaries built from their Go modules. Every pod passes the restricted Pod Security Standard.
"""

from __future__ import annotations

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


def prometheus_config(chart_scrape_configs: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's own scrape job and rules (its ``-prometheus`` ConfigMap), plus ksm."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["/etc/prometheus/rules/*.yaml"],
        "scrape_configs": [
            *chart_scrape_configs,
            {
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "static_configs": [{"targets": [f"kube-state-metrics.{MONITORING}.svc:8080"]}],
            },
        ],
    }


def prometheus(version: str, config: dict[str, Any], rules: str) -> list[dict[str, Any]]:
    name = "prometheus"
    pod = _restricted_pod(
        name,
        tool_image_name(name, version),
        [
            "--config.file=/etc/prometheus/config/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=2h",
            "--web.listen-address=:9090",
        ],
        9090,
        volumes=[
            {
                "name": "config",
                "configMap": {"name": "prometheus-config"},
                "mountPath": "/etc/prometheus/config",
            },
            {
                "name": "rules",
                "configMap": {"name": "prometheus-rules"},
                "mountPath": "/etc/prometheus/rules",
            },
            {"name": "data", "emptyDir": {}, "mountPath": "/prometheus"},
        ],
    )
    read = [
        {
            "apiGroups": [""],
            "resources": ["services", "endpoints", "pods"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    maps = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prometheus-config", "namespace": MONITORING},
            "data": {"prometheus.yml": yaml.safe_dump(config, sort_keys=False)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prometheus-rules", "namespace": MONITORING},
            "data": {"redis-queue.yaml": rules},
        },
    ]
    return [*maps, *_cluster_read(name, read), *_deployment(name, pod, 9090, PROMETHEUS_SERVICE)]


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
        tool_image_name("adapter", version),
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
