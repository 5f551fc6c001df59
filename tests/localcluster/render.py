"""The cluster's configuration files, as pure functions of one ``Plan``.

Every address here is inside the cluster's own network namespace, which no other cluster
shares: the same ranges and ports serve every run, and two runs on one machine never meet.
The ranges are RFC 2544 test ranges (198.18.0.0/15), never routed on a real network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.localcluster.build import LOCAL_REGISTRY_HOST, PAUSE_IMAGE

NODE_NAME = "rqs-node"
CLUSTER_DOMAIN = "cluster.local"
# Registries whose images containerd takes from the loopback registry: the chart's own
# (what a user pulls from GHCR) and the local names of the test-only images.
MIRRORED_REGISTRIES = ("ghcr.io", LOCAL_REGISTRY_HOST)


@dataclass(frozen=True)
class Plan:
    """Addresses and paths of one run; ``run_dir`` is the only thing that varies."""

    run_dir: Path
    bridge: str = "rqs0"
    node_ip: str = "198.18.0.1"
    pod_subnet: str = "198.18.0.0/24"
    pod_range: tuple[str, str] = ("198.18.0.10", "198.18.0.250")
    service_range: str = "198.19.0.0/16"
    kubernetes_service_ip: str = "198.19.0.1"
    apiserver_port: int = 6443
    kubelet_port: int = 10250
    etcd_port: int = 2379
    registry_port: int = 5000

    @property
    def apiserver_url(self) -> str:
        return f"https://{self.node_ip}:{self.apiserver_port}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    def path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)

    @property
    def containerd_socket(self) -> Path:
        return self.path("containerd", "containerd.sock")

    @property
    def kubelet_root(self) -> Path:
        return self.path("kubelet")

    @property
    def pv_root(self) -> Path:
        return self.path("volumes")


# --------------------------------------------------------------------------- identities


@dataclass(frozen=True)
class Identity:
    """A static-token user: each component gets only the name its RBAC rules expect."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


IDENTITIES = (
    Identity("admin", "rqs-admin", ("system:masters",)),
    Identity("kubelet", f"system:node:{NODE_NAME}", ("system:nodes",)),
    Identity("controller-manager", "system:kube-controller-manager"),
    Identity("scheduler", "system:kube-scheduler"),
    Identity("kube-proxy", "system:kube-proxy"),
    Identity("coredns", "rqs:coredns"),
)


def token_file(tokens: dict[str, str]) -> str:
    """kube-apiserver --token-auth-file: token,user,uid,"groups"."""
    lines = []
    for ident in IDENTITIES:
        groups = ",".join(ident.groups)
        lines.append(f'{tokens[ident.name]},{ident.user},{ident.user},"{groups}"')
    return "\n".join(lines) + "\n"


def kubeconfig(plan: Plan, token: str, ca_file: Path, context: str = "rqs") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {
                        "server": plan.apiserver_url,
                        "certificate-authority": str(ca_file),
                    },
                }
            ],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        },
        sort_keys=False,
    )


# --------------------------------------------------------------------------- runtime


def containerd_config(plan: Plan) -> str:
    """containerd 1.6 with its own root, state and socket; cgroupfs; no AppArmor."""
    base = plan.path("containerd")
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f'root = "{base / "root"}"',
            f'state = "{base / "state"}"',
            # Plugins that would write outside the run directory (or need what is absent).
            'disabled_plugins = ["io.containerd.internal.v1.opt", '
            '"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", '
            '"io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", '
            '"io.containerd.tracing.processor.v1.otlp"]',
            "[grpc]",
            f'  address = "{plan.containerd_socket}"',
            "[ttrpc]",
            f'  address = "{base / "containerd.sock.ttrpc"}"',
            "[debug]",
            f'  address = "{base / "debug.sock"}"',
            f"[{cri}]",
            f'  sandbox_image = "{PAUSE_IMAGE}"',
            "  disable_apparmor = true",
            # No CAP_SYS_RESOURCE in this container: never lower a process' oom_score_adj.
            "  restrict_oom_score_adj = true",
            '  stream_server_address = "127.0.0.1"',
            '  stream_server_port = "0"',
            # Pod network namespaces under our state dir, not the machine's /run/netns.
            "  netns_mounts_under_state_dir = true",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.runc.options]",
            "  SystemdCgroup = false",
            f"[{cri}.cni]",
            '  bin_dir = "/usr/lib/cni"',
            f'  conf_dir = "{plan.path("cni")}"',
            f"[{cri}.registry]",
            f'  config_path = "{plan.path("registry-hosts")}"',
            "",
        ]
    )


def registry_hosts(plan: Plan) -> str:
    """hosts.toml for each mirrored registry: the loopback registry is the only server.

    ``server`` replaces the upstream, so a missing image fails fast instead of going out.
    """
    url = f"http://{plan.registry}"
    return f'server = "{url}"\n\n[host."{url}"]\n  capabilities = ["pull", "resolve"]\n'


def registry_config(plan: Plan) -> str:
    """Debian's docker-registry (distribution 2.8): loopback only, storage in the run."""
    return yaml.safe_dump(
        {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(plan.path("registry"))},
                "delete": {"enabled": True},
            },
            "http": {"addr": plan.registry},
        },
        sort_keys=False,
    )


def cni_config(plan: Plan) -> str:
    """Pods on our bridge: no default route, no NAT; only the pod subnet and the services.

    ``isGateway: false`` keeps the bridge plugin from giving pods a default route; the one
    extra route sends the service range to the node, where kube-proxy's rules answer it.
    """
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "rqs",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": plan.bridge,
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(plan.path("cni-ipam")),
                        "ranges": [
                            [
                                {
                                    "subnet": plan.pod_subnet,
                                    "rangeStart": plan.pod_range[0],
                                    "rangeEnd": plan.pod_range[1],
                                }
                            ]
                        ],
                        "routes": [{"dst": plan.service_range, "gw": plan.node_ip}],
                    },
                }
            ],
        },
        indent=2,
    )


# --------------------------------------------------------------------------- node


def kubelet_config(plan: Plan, ca_file: Path) -> str:
    """What REAL-CLUSTER.md found the kubelet needs in a container with cgroup v1."""
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": plan.node_ip,
        "port": plan.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{plan.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "oomScoreAdj": 0,
        "makeIPTablesUtilChains": False,
        "localStorageCapacityIsolation": False,
        "clusterDNS": [plan.node_ip],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(plan.path("resolv.conf")),
        "podLogsDir": str(plan.path("pod-logs")),
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {},
        "rotateCertificates": False,
        "maxPods": 60,
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(plan: Plan, kubeconfig_file: Path) -> str:
    """iptables mode inside our namespace; every conntrack setting 0 = left as it is.

    nf_conntrack_max is machine-wide: a kube-proxy that set it would change the host.
    """
    return yaml.safe_dump(
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig_file)},
            "mode": "iptables",
            "clusterCIDR": plan.pod_subnet,
            "hostnameOverride": NODE_NAME,
            "bindAddress": plan.node_ip,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
        },
        sort_keys=False,
    )


def corefile(plan: Plan, kubeconfig_file: Path) -> str:
    """Cluster names only: no ``forward``, so a query for an outside name stays here."""
    return (
        ".:53 {\n"
        f"    bind {plan.node_ip}\n"
        "    errors\n"
        "    health 127.0.0.1:18080\n"
        "    ready 127.0.0.1:18181\n"
        f"    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig_file}\n"
        "        pods insecure\n"
        "    }\n"
        "    cache 30\n"
        "}\n"
    )


def resolv_conf(plan: Plan) -> str:
    """The "host" resolver pods with dnsPolicy Default get: ours, never the machine's."""
    return f"nameserver {plan.node_ip}\n"
