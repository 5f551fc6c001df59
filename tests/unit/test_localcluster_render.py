"""The local cluster's configuration: the network rule and isolation, read off the files.

These are the facts the cluster's safety rests on (no default route, no NAT, no outside
DNS, nothing written outside the run directory), checked on the rendered files so that a
change that breaks one fails here, in seconds, before any cluster starts.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.localcluster import addons, hostnet, render
from tests.localcluster.build import PAUSE_IMAGE, load_components
from tests.localcluster.layout import GO_DIR, RunState, cache_dir, runs_dir

PLAN = render.Plan(run_dir=Path("/run/rqs-test/abc123"))
TEST_RANGES = ipaddress.ip_network(hostnet.TEST_RANGES)


def test_every_address_is_in_the_rfc2544_test_ranges() -> None:
    for network in (PLAN.pod_subnet, PLAN.service_range):
        assert ipaddress.ip_network(network).subnet_of(TEST_RANGES)  # type: ignore[arg-type]
    for address in (PLAN.node_ip, PLAN.kubernetes_service_ip, *PLAN.pod_range):
        assert ipaddress.ip_address(address) in TEST_RANGES
    assert ipaddress.ip_address(PLAN.node_ip) in ipaddress.ip_network(PLAN.pod_subnet)
    assert ipaddress.ip_address(PLAN.kubernetes_service_ip) in ipaddress.ip_network(
        PLAN.service_range
    )


def test_pods_get_no_default_route_and_no_nat() -> None:
    config = json.loads(render.cni_config(PLAN))
    (bridge,) = config["plugins"]
    assert bridge["type"] == "bridge"
    assert bridge["isGateway"] is False
    assert bridge["ipMasq"] is False
    routes = bridge["ipam"]["routes"]
    assert routes == [{"dst": PLAN.service_range, "gw": PLAN.node_ip}]
    assert all(r["dst"] not in ("0.0.0.0/0", "default") for r in routes)
    assert bridge["ipam"]["dataDir"].startswith(str(PLAN.run_dir))


def test_coredns_forwards_nothing_and_binds_the_node_only() -> None:
    corefile = render.corefile(PLAN, PLAN.path("coredns.kubeconfig"))
    assert "forward" not in corefile
    assert "proxy" not in corefile
    assert f"bind {PLAN.node_ip}" in corefile
    assert render.resolv_conf(PLAN) == f"nameserver {PLAN.node_ip}\n"


def test_containerd_writes_only_under_the_run_directory() -> None:
    config = tomllib.loads(render.containerd_config(PLAN))
    paths = [config["root"], config["state"], config["grpc"]["address"]]
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    paths += [cri["cni"]["conf_dir"], cri["registry"]["config_path"]]
    assert all(p.startswith(str(PLAN.run_dir)) for p in paths), paths
    assert "io.containerd.internal.v1.opt" in config["disabled_plugins"]
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["sandbox_image"] == PAUSE_IMAGE
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_mirrored_registries_have_the_loopback_registry_as_their_only_server() -> None:
    hosts = tomllib.loads(render.registry_hosts(PLAN))
    assert hosts["server"] == f"http://127.0.0.1:{PLAN.registry_port}"
    assert list(hosts["host"]) == [hosts["server"]]
    assert "ghcr.io" in render.MIRRORED_REGISTRIES
    registry = yaml.safe_load(render.registry_config(PLAN))
    assert registry["http"]["addr"].startswith("127.0.0.1:")


def test_kube_proxy_leaves_machine_wide_conntrack_settings_alone() -> None:
    config = yaml.safe_load(render.kube_proxy_config(PLAN, PLAN.path("kp.kubeconfig")))
    assert config["conntrack"] == {
        "maxPerCore": 0,
        "min": 0,
        "tcpEstablishedTimeout": "0s",
        "tcpCloseWaitTimeout": "0s",
    }
    assert config["mode"] == "iptables"


def test_kubelet_settings_that_this_container_needs() -> None:
    config = yaml.safe_load(render.kubelet_config(PLAN, PLAN.path("pki", "ca.crt")))
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupsPerQOS"] is False
    assert config["failCgroupV1"] is False
    assert config["makeIPTablesUtilChains"] is False
    assert config["clusterDNS"] == [PLAN.node_ip]
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["podLogsDir"].startswith(str(PLAN.run_dir))


def test_every_identity_has_a_token_line_and_only_admin_is_a_master() -> None:
    tokens = {ident.name: f"t-{ident.name}" for ident in render.IDENTITIES}
    lines = render.token_file(tokens).splitlines()
    assert len(lines) == len(render.IDENTITIES)
    masters = [line for line in lines if "system:masters" in line]
    assert masters == ['t-admin,rqs-admin,rqs-admin,"system:masters"']
    node = next(line for line in lines if line.startswith("t-kubelet,"))
    assert f"system:node:{render.NODE_NAME}" in node
    assert "system:nodes" in node


def test_kubeconfig_points_at_the_node_address() -> None:
    config = yaml.safe_load(render.kubeconfig(PLAN, "tok", Path("/ca.crt")))
    assert config["clusters"][0]["cluster"]["server"] == f"https://{PLAN.node_ip}:6443"
    assert config["users"][0]["user"]["token"] == "tok"


def test_differences_name_what_changed_both_ways() -> None:
    before = {
        "links": ["lo", "eth0"],
        "sysctls": {"net/ipv4/ip_forward": "0"},
        "iptables": ["# Generated by iptables-save on Mon", "-A OUTPUT -j ACCEPT"],
    }
    after = {
        "links": ["lo", "eth0", "rqs0"],
        "sysctls": {"net/ipv4/ip_forward": "1"},
        "iptables": ["# Generated by iptables-save on Tue"],
    }
    assert hostnet.differences(before, after) == [
        "iptables: removed -A OUTPUT -j ACCEPT",
        "links: added rqs0",
        "sysctls net/ipv4/ip_forward: '0' -> '1'",
    ]
    assert hostnet.differences(before, before) == []


def test_guard_rule_drops_the_test_ranges_on_the_uplink() -> None:
    assert hostnet.guard_rule("eth0") == [
        "OUTPUT", "-d", "198.18.0.0/15", "-o", "eth0", "-j", "DROP",
    ]  # fmt: skip


def test_mount_points_of_mountinfo() -> None:
    info = (
        "22 1 0:21 / /run rw shared:5 - tmpfs tmpfs rw\n"
        "90 22 0:40 / /run/x/kubelet rw shared:9 - ext4 /dev/vda rw\n"
    )
    assert hostnet.mount_points(info) == ["/run", "/run/x/kubelet"]


def test_run_state_round_trips(tmp_path: Path) -> None:
    state = RunState(run_id="abc", run_dir=str(tmp_path), netns="rqs-abc")
    state.pids["etcd"] = 42
    state.host_rules.append(["OUTPUT", "-j", "DROP"])
    state.save()
    assert RunState.load(tmp_path) == state


def test_cache_and_runs_directories_are_overridable() -> None:
    assert cache_dir({"REDIS_QUEUE_CACHE": "/x"}) == Path("/x")
    assert cache_dir({"HOME": "/home/u"}) == Path("/home/u/.cache/redis-queue-stack")
    assert cache_dir({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == Path("/c/redis-queue-stack")
    assert runs_dir({"REDIS_QUEUE_RUNS": "/r"}) == Path("/r")


def test_components_name_existing_wrapper_modules_with_pinned_versions() -> None:
    components = load_components()
    names = {c.name for c in components}
    assert {"kubernetes", "etcd", "coredns", "pause"} <= names
    for component in components:
        assert (GO_DIR / component.name / "go.mod").is_file(), component.name
        if component.name != "pause":
            assert (GO_DIR / component.name / "go.sum").is_file(), component.name
        assert component.version, component.name
        assert component.version != "latest", component.name
        assert component.binaries, component.name
    all_binaries = [b for c in components for b in c.binaries]
    needed = {"kube-apiserver", "kubelet", "etcd", "coredns", "pause", "prometheus"}
    assert needed <= set(all_binaries)
    assert len(all_binaries) == len(set(all_binaries))


UPSTREAM_OPERATOR = [
    {"kind": "ClusterRole", "metadata": {"name": "prometheus-operator"}, "rules": []},
    {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "prometheus-operator"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "prometheus-operator", "namespace": "default"}
        ],
    },
    {"kind": "ServiceAccount", "metadata": {"name": "prometheus-operator"}},
    {
        "kind": "Deployment",
        "metadata": {"name": "prometheus-operator"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "prometheus-operator",
                            "image": "quay.io/prometheus-operator/prometheus-operator:v0.85.0",
                            "args": ["--kubelet-service=kube-system/kubelet"],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ]
                }
            }
        },
    },
    {"kind": "Service", "metadata": {"name": "prometheus-operator"}},
]


def test_prometheus_operator_runs_upstreams_manifests_with_local_images() -> None:
    objects = addons.prometheus_operator(UPSTREAM_OPERATOR, "v0.85.0")
    assert [o["kind"] for o in objects] == [
        "ClusterRole", "ClusterRoleBinding", "ServiceAccount", "Deployment",
    ]  # fmt: skip
    assert objects[1]["subjects"][0]["namespace"] == addons.MONITORING
    assert objects[2]["metadata"]["namespace"] == addons.MONITORING
    (container,) = objects[3]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "rqs.test/prometheus-operator:v0.85.0"
    assert container["args"] == [
        "--prometheus-config-reloader=rqs.test/prometheus-config-reloader:v0.85.0",
        "--kubelet-service=",
    ]
    assert UPSTREAM_OPERATOR[1]["subjects"][0]["namespace"] == "default", "input not modified"


def test_prometheus_selects_every_monitor_and_rule_and_keeps_ksm_labels() -> None:
    objects = addons.prometheus([], "v0.316.0", "v3.16.0")
    (server,) = [o for o in objects if o["kind"] == "Prometheus"]
    spec = server["spec"]
    for selector in ("serviceMonitor", "rule"):
        assert spec[f"{selector}Selector"] == {}
        assert spec[f"{selector}NamespaceSelector"] == {}
    assert spec["image"] == "rqs.test/prometheus:v0.316.0"
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


def test_monitoring_pods_pass_the_restricted_profile() -> None:
    objects = [
        *addons.kube_state_metrics("v2.16.0"),
        *addons.prometheus_operator(UPSTREAM_OPERATOR, "v0.85.0"),
        *addons.prometheus_adapter("v0.12.0", {}),
    ]
    pods = [o["spec"]["template"]["spec"] for o in objects if o["kind"] == "Deployment"]
    assert len(pods) == 3
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["readOnlyRootFilesystem"] is True


def test_adapter_config_takes_the_charts_external_rules() -> None:
    rule = {"seriesQuery": "x", "metricsQuery": "max(<<.Series>>)"}
    assert addons.adapter_config({"rules": {"external": [rule]}}) == {"externalRules": [rule]}
    assert addons.adapter_config({"rules": {"custom": [rule]}}) == {"rules": [rule]}
    assert addons.adapter_config({}) == {}


def test_volumes_are_hostpath_dirs_under_the_run() -> None:
    pvs = [o for o in addons.basics(PLAN) if o["kind"] == "PersistentVolume"]
    assert len(pvs) == addons.VOLUMES
    for pv in pvs:
        assert pv["spec"]["hostPath"]["path"].startswith(str(PLAN.pv_root))
        assert pv["spec"]["storageClassName"] == addons.STORAGE_CLASS


def test_keda_runs_upstreams_manifests_with_our_binaries_in_a_restricted_namespace() -> None:
    upstream = [
        {"kind": "Namespace", "metadata": {"name": "keda"}},
        {
            "kind": "Deployment",
            "metadata": {"name": "keda-operator", "namespace": "keda"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "keda-operator",
                                "image": "ghcr.io/kedacore/keda:main",
                                "command": ["/keda"],
                            }
                        ]
                    }
                }
            },
        },
    ]
    namespace, deployment = addons.keda(upstream, "v2.21.0")
    assert namespace["metadata"]["labels"] == addons.RESTRICTED
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == "rqs.test/keda-operator:v2.21.0"
    assert container["command"] == ["/bin/keda-operator"]
    assert upstream[1]["spec"]["template"]["spec"]["containers"][0]["command"] == ["/keda"]


def test_refusal_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.localcluster import cluster

    monkeypatch.setattr(cluster.platform, "system", lambda: "Darwin")
    assert cluster.refusal() == "the local cluster needs Linux (this is Darwin)"
    monkeypatch.setattr(cluster.platform, "system", lambda: "Linux")
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    assert "needs root" in str(cluster.refusal())
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cluster.shutil, "which", lambda cmd: None if cmd == "buildah" else cmd)
    problem = str(cluster.refusal())
    assert "missing: buildah (buildah)" in problem
    assert "scripts/setup.sh cluster" in problem


def test_go_older_than_the_modules_need_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.localcluster import cluster

    monkeypatch.setattr(cluster, "sh", lambda *a, **k: "go1.19.8\n")
    assert "Go >= 1.26 is needed" in str(cluster.go_too_old())
    monkeypatch.setattr(cluster, "sh", lambda *a, **k: "go1.26.8\n")
    assert cluster.go_too_old() is None


SAVED_EMPTY_FILTER = """\
# Generated by iptables-save v1.8.9 (nf_tables) on Wed Dec  2 12:45:53 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
# Completed on Wed Dec  2 12:45:53 2026
"""


def test_an_empty_all_accept_table_is_the_same_machine_as_no_table() -> None:
    # nf_tables: the first iptables command on a machine creates this table; it filters nothing.
    assert hostnet.iptables_facts(SAVED_EMPTY_FILTER) == hostnet.iptables_facts("") == []


def test_a_rule_a_policy_or_a_user_chain_is_a_fact_of_its_table() -> None:
    with_rule = SAVED_EMPTY_FILTER.replace(
        "COMMIT", "-A OUTPUT -d 198.18.0.0/15 -o eth0 -j DROP\nCOMMIT"
    )
    assert hostnet.iptables_facts(with_rule) == [
        "filter -A OUTPUT -d 198.18.0.0/15 -o eth0 -j DROP"
    ]
    dropping = SAVED_EMPTY_FILTER.replace(":FORWARD ACCEPT", ":FORWARD DROP")
    assert hostnet.iptables_facts(dropping) == ["filter :FORWARD DROP"]
    user_chain = SAVED_EMPTY_FILTER.replace("COMMIT", ":KUBE-TEST - [0:0]\nCOMMIT")
    assert hostnet.iptables_facts(user_chain) == ["filter :KUBE-TEST -"]
    nat = "*nat\n:POSTROUTING ACCEPT [3:180]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n"
    assert hostnet.iptables_facts(nat) == ["nat -A POSTROUTING -j MASQUERADE"]
    # The guard rule added where iptables never ran is one difference, not a whole new table.
    assert hostnet.differences(
        {"iptables": hostnet.iptables_facts("")},
        {"iptables": hostnet.iptables_facts(with_rule)},
    ) == ["iptables: added filter -A OUTPUT -d 198.18.0.0/15 -o eth0 -j DROP"]
