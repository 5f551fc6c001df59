"""The cluster's network namespace, and proof that the machine is left as it was.

The cluster runs in a network namespace made for the run: its bridge, routes, forwarding,
bridge netfilter and kube-proxy's rules exist only there, and the namespace has no uplink,
so no pod (and no component) can send anything off the machine. On the machine itself the
run adds one rule, dropping the test ranges on the uplink, in case anything ever routes
them there. ``snapshot`` reads everything a run could change on the machine; ``down``
compares it with the snapshot taken before ``up``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.localcluster.layout import RunState
from tests.localcluster.progress import sh
from tests.localcluster.render import Plan

TEST_RANGES = "198.18.0.0/15"
NETNS_DIR = "/run/netns"
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
)


def nsenter(netns: str) -> list[str]:
    """Prefix that runs a command in the cluster's network namespace, and only that one.

    ``ip netns exec`` would also give the command a mount namespace of its own, and the
    kubelet's volume mounts must be seen by containerd.
    """
    return ["nsenter", f"--net={NETNS_DIR}/{netns}", "--"]


def uplink() -> str | None:
    """The interface of the machine's default route, if it has one."""
    out = sh(["ip", "-o", "route", "show", "default"], check=False)
    match = re.search(r"\bdev (\S+)", out)
    return match.group(1) if match else None


def guard_rule(device: str) -> list[str]:
    """In the order iptables-save prints it, so the snapshot shows it as written."""
    return ["OUTPUT", "-d", TEST_RANGES, "-o", device, "-j", "DROP"]


def open_network(state: RunState, plan: Plan) -> None:
    """The namespace with its bridge and rules, and the guard rule on the machine.

    Each is recorded in ``state`` before it is made, so ``close_network`` finds it.
    """
    state.netns_mount_made = NETNS_DIR not in mount_points(_mountinfo())
    state.save()
    create_netns(state.netns, plan)
    device = uplink()
    if device:
        rule = guard_rule(device)
        state.host_rules.append(rule)
        state.save()
        sh(["iptables", "-I", *rule])


def close_network(state: RunState) -> None:
    delete_netns(state.netns)
    if state.netns_mount_made:
        release_netns_mount()
    for rule in state.host_rules:
        if _rule_present(rule):
            sh(["iptables", "-D", *rule])


def _rule_present(rule: list[str]) -> bool:
    return sh(["iptables", "-C", *rule], check=False, status=True) == "0"


def create_netns(netns: str, plan: Plan) -> None:
    sh(["ip", "netns", "add", netns])
    inside = nsenter(netns)
    ip = [*inside, "ip"]
    sh([*ip, "link", "set", "lo", "up"])
    sh([*ip, "link", "add", plan.bridge, "type", "bridge"])
    sh([*ip, "addr", "add", f"{plan.node_ip}/24", "dev", plan.bridge])
    sh([*ip, "link", "set", plan.bridge, "up"])
    # Services are answered by kube-proxy's rules on the node: route them onto the bridge.
    sh([*ip, "route", "add", plan.service_range, "dev", plan.bridge])
    sh(
        [
            *inside,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
            "net.bridge.bridge-nf-call-iptables=1",
        ]
    )
    ipt = [*inside, "iptables"]
    # Forward only bridge to bridge (pod to pod, pod to service to pod).
    sh([*ipt, "-P", "FORWARD", "DROP"])
    sh([*ipt, "-A", "FORWARD", "-i", plan.bridge, "-o", plan.bridge, "-j", "ACCEPT"])


def netns_facts(netns: str) -> dict[str, Any]:
    """What the namespace holds: the network rule as ``verify`` reads it back."""
    inside = nsenter(netns)
    return {
        "links": sh([*inside, "ip", "-o", "link", "show"]),
        "routes": sh([*inside, "ip", "route", "show", "table", "all"]),
        "forward": sh([*inside, "iptables", "-S", "FORWARD"]),
        "nat_postrouting": sh([*inside, "iptables", "-t", "nat", "-S", "POSTROUTING"]),
        "ip_forward": sh([*inside, "cat", "/proc/sys/net/ipv4/ip_forward"]).strip(),
    }


def processes_in(netns: str) -> set[int]:
    """Every process whose network namespace is ``netns``: what must stop before it goes.

    This catches what no PID file names (a kubectl a killed test left behind, a container
    whose shim died): a process inside would also keep the namespace alive after deletion.
    """
    try:
        target = os.stat(f"{NETNS_DIR}/{netns}").st_ino
    except FileNotFoundError:
        return set()
    found = set()
    for link in Path("/proc").glob("[0-9]*/ns/net"):
        try:
            if os.stat(link).st_ino == target:
                found.add(int(link.parent.parent.name))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return found


def delete_netns(netns: str) -> None:
    if Path(NETNS_DIR, netns).exists():
        sh(["ip", "netns", "delete", netns], check=False)


def release_netns_mount() -> None:
    """Undo the mount the first ``ip netns add`` on a machine makes of /run/netns.

    ``ip netns delete`` leaves it behind. Only while no namespace is left in it: another
    run's (or the machine's own) namespace keeps it, and that run's teardown, or nobody's,
    releases it then.
    """
    if NETNS_DIR in mount_points(_mountinfo()) and not any(Path(NETNS_DIR).iterdir()):
        sh(["umount", NETNS_DIR], check=False)


# --------------------------------------------------------------------------- the machine


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "<absent>"


_COUNTERS = re.compile(r"\[\d+:\d+\]")


def iptables_facts(saved: str) -> list[str]:
    """``iptables-save`` output as comparable facts, each named by its table
    (``filter -A OUTPUT ...``): no counters, no comments, and no built-in chain at ACCEPT.

    Why leave out a built-in chain at ACCEPT (and the table headers): with the nf_tables
    backend a machine on which iptables never ran has no ``filter`` table at all, and the first
    ``iptables`` command creates it with its built-in chains at ACCEPT and no rule. That table
    filters nothing, so "absent" and "every built-in chain ACCEPT" are the same machine; and a
    rule added to it is one fact, as on a machine where the table existed. A rule, a user chain
    and any other policy (``filter :FORWARD DROP``) are facts.
    """
    facts: list[str] = []
    table = ""
    for line in _COUNTERS.sub("", saved).splitlines():
        line = line.rstrip()
        if line.startswith("*"):
            table = line[1:]
        elif line and line[0] != "#" and line != "COMMIT" and not _ACCEPTING_CHAIN.fullmatch(line):
            facts.append(f"{table} {line}")
    return facts


# A built-in chain's policy line at ACCEPT (counters removed); user chains read ":NAME -".
_ACCEPTING_CHAIN = re.compile(r":(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ACCEPT")


def _mountinfo() -> str:
    return Path("/proc/self/mountinfo").read_text()


def mount_points(mountinfo: str) -> list[str]:
    return sorted(line.split()[4] for line in mountinfo.splitlines() if line.strip())


def snapshot() -> dict[str, Any]:
    """Everything of the machine's that a run could change, in comparable form."""
    links = sh(["ip", "-o", "link", "show"])
    return {
        "links": sorted(
            re.sub(r"^\d+: ", "", line).split(":")[0] for line in links.splitlines() if line
        ),
        "addresses": sorted(sh(["ip", "-o", "addr", "show"]).splitlines()),
        "routes": sorted(sh(["ip", "route", "show", "table", "all"]).splitlines()),
        "rules": sorted(sh(["ip", "rule", "show"]).splitlines()),
        "iptables": iptables_facts(sh(["iptables-save"], check=False)),
        "sysctls": {name: _read(Path("/proc/sys") / name) for name in SYSCTLS},
        "netns": sorted(p.name for p in Path(NETNS_DIR).glob("*"))
        if Path(NETNS_DIR).is_dir()
        else [],
        "mounts": mount_points(_mountinfo()),
    }


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What ``after`` has that ``before`` had not, and the reverse: one line per fact.

    ``iptables-save`` comment lines carry a timestamp and are ignored.
    """
    found = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            for name in sorted(set(old) | set(new)):
                if old.get(name) != new.get(name):
                    found.append(f"{key} {name}: {old.get(name)!r} -> {new.get(name)!r}")
            continue
        olds = [x for x in old or [] if not str(x).startswith("#")]
        news = [x for x in new or [] if not str(x).startswith("#")]
        found += [f"{key}: added {x}" for x in news if x not in olds]
        found += [f"{key}: removed {x}" for x in olds if x not in news]
    return found
