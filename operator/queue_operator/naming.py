"""Names, labels and the API identity of RedisQueue and its children (docs/CONTRACTS.md).

The chart, the e2e tests and the ServiceMonitor select on these strings, so they live in one
place and nothing else spells them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GROUP = "queues.ai-agents.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "RedisQueue"
PLURAL = "redisqueues"

REDIS_PORT = 6379
EXPORTER_PORT = 9808
MANAGER = "queue-operator"
# Pod-template annotations whose change rolls the pods (Bitnami-style checksums).
CONFIG_CHECKSUM = f"{GROUP}/config-checksum"
SECRET_CHECKSUM = f"{GROUP}/secret-checksum"
# On every child: hash of the manifest last applied, so removed spec fields count as drift.
APPLIED_HASH = f"{GROUP}/applied-hash"

Component = Literal["redis", "exporter"]


@dataclass(frozen=True, slots=True)
class Owner:
    """The RedisQueue a set of children belongs to: enough for names and ownerReferences."""

    name: str
    namespace: str
    uid: str

    @property
    def config_map(self) -> str:
        return f"{self.name}-redis-config"

    @property
    def generated_secret(self) -> str:
        return f"{self.name}-redis-auth"

    @property
    def redis(self) -> str:
        """StatefulSet, client Service and PodDisruptionBudget share this name."""
        return f"{self.name}-redis"

    @property
    def headless_service(self) -> str:
        return f"{self.name}-redis-headless"

    @property
    def exporter(self) -> str:
        """Exporter Deployment and Service."""
        return f"{self.name}-exporter"

    @property
    def endpoint(self) -> str:
        """What clients in the cluster connect to, as reported in ``status.endpoint``."""
        return f"{self.redis}.{self.namespace}.svc:{REDIS_PORT}"

    def selector(self, component: Component) -> dict[str, str]:
        """The stable subset of labels used in selectors (selectors are immutable)."""
        return {
            "app.kubernetes.io/name": "redis-queue",
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": component,
        }

    def labels(self, component: Component) -> dict[str, str]:
        return {
            **self.selector(component),
            "app.kubernetes.io/managed-by": MANAGER,
            "app.kubernetes.io/part-of": "redis-queue-stack",
        }

    def owner_reference(self) -> dict[str, object]:
        """Garbage collection deletes the children when the RedisQueue goes (except PVCs)."""
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
