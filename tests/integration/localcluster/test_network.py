"""The cluster's network namespace made and removed for real, as ``up`` and ``down`` do.

This is the network rule checked on the machine: inside, the bridge with no default route,
forwarding only bridge to bridge, no NAT; outside, only the guard rule dropping the test
ranges on the uplink; after teardown, the machine exactly as it was (the same snapshot
``down`` compares after a whole e2e run).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.localcluster import hostnet, render
from tests.localcluster.layout import RunState, new_run_id
from tests.localcluster.progress import sh

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="network namespaces and iptables need root (CI runs as root)"
)


@pytest.fixture
def state(tmp_path: Path) -> RunState:
    run_id = new_run_id()
    return RunState(run_id=run_id, run_dir=str(tmp_path), netns=f"rqs-{run_id}")


def test_namespace_keeps_the_network_rule_and_teardown_restores_the_machine(
    state: RunState,
) -> None:
    plan = render.Plan(run_dir=Path(state.run_dir))
    before = hostnet.snapshot()
    try:
        hostnet.open_network(state, plan)
        facts = hostnet.netns_facts(state.netns)
        assert f"{plan.bridge}:" in facts["links"]
        assert "default" not in facts["routes"]
        assert f"{plan.service_range} dev {plan.bridge}" in facts["routes"]
        assert "-P FORWARD DROP" in facts["forward"]
        assert f"-A FORWARD -i {plan.bridge} -o {plan.bridge} -j ACCEPT" in facts["forward"]
        assert "MASQUERADE" not in facts["nat_postrouting"]
        assert facts["ip_forward"] == "1"
        # The machine: only the guard rule changed, and its forwarding stayed as it was.
        during = hostnet.differences(before, hostnet.snapshot())
        expected_rule = " ".join(["-A", *state.host_rules[0]]) if state.host_rules else None
        changed = [d for d in during if not d.startswith(("netns: added", "mounts: added"))]
        if expected_rule:
            assert changed == [f"iptables: added filter {expected_rule}"]
        else:
            assert changed == []
        outside = sh(["cat", "/proc/sys/net/ipv4/ip_forward"]).strip()
        assert outside == before["sysctls"]["net/ipv4/ip_forward"]
    finally:
        hostnet.close_network(state)
    assert hostnet.differences(before, hostnet.snapshot()) == []


def test_a_pod_address_reaches_nothing_outside(state: RunState) -> None:
    """From inside the namespace, an outside address is unreachable: there is no route."""
    plan = render.Plan(run_dir=Path(state.run_dir))
    try:
        hostnet.open_network(state, plan)
        inside = hostnet.nsenter(state.netns)
        route = sh([*inside, "ip", "route", "get", "192.0.2.1"], check=False, status=True)
        assert route != "0", "an outside address has a route from the cluster's namespace"
    finally:
        hostnet.close_network(state)
