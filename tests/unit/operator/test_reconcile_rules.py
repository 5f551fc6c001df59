"""The pure decisions of reconcile: what counts as drift, and which changes are refused."""

from __future__ import annotations

from typing import Any

from queue_operator.builders import build_statefulset
from queue_operator.naming import APPLIED_HASH, Owner
from queue_operator.reconcile import contains, stamp, storage_refusal
from queue_operator.spec import parse_spec

OWNER = Owner(name="jobs", namespace="work", uid="u")


def live_statefulset(**persistence: Any) -> dict[str, Any]:
    spec = parse_spec("jobs", {"persistence": persistence})
    return build_statefulset(OWNER, spec, config_checksum="c", secret_checksum="s")


def test_live_objects_with_server_defaults_contain_the_desired_state() -> None:
    desired = {"spec": {"ports": [{"name": "redis", "port": 6379}], "type": "ClusterIP"}}
    live = {
        "spec": {
            "ports": [{"name": "redis", "port": 6379, "protocol": "TCP"}],
            "type": "ClusterIP",
            "clusterIP": "10.0.0.1",
        },
        "status": {},
    }
    assert contains(live, desired)


def test_edits_and_lost_items_are_drift() -> None:
    desired = {"spec": {"ports": [{"name": "redis", "port": 6379}]}}
    assert not contains({"spec": {"ports": [{"name": "redis", "port": 6380}]}}, desired)
    assert not contains({"spec": {"ports": []}}, desired)
    assert not contains({"spec": {}}, desired)
    assert not contains({"spec": "oops"}, desired)


def test_stamp_changes_with_content_only() -> None:
    one = stamp({"metadata": {"name": "a"}, "data": {"k": "1"}})
    assert one["metadata"]["annotations"][APPLIED_HASH]
    assert stamp({"metadata": {"name": "a"}, "data": {"k": "1"}}) == one
    two = stamp({"metadata": {"name": "a"}, "data": {"k": "2"}})
    assert (
        two["metadata"]["annotations"][APPLIED_HASH] != one["metadata"]["annotations"][APPLIED_HASH]
    )
    # A removed field changes the hash, so the live object (which still has it) counts as drift.
    smaller = stamp({"metadata": {"name": "a"}, "data": {}})
    assert not contains(one, smaller)


def test_no_statefulset_yet_nothing_to_refuse() -> None:
    assert storage_refusal(None, parse_spec("jobs", {})) is None


def test_same_size_in_other_units_is_not_a_change() -> None:
    live = live_statefulset(size="1Gi")
    assert storage_refusal(live, parse_spec("jobs", {"persistence": {"size": "1024Mi"}})) is None


def test_shrink_is_refused() -> None:
    refusal = storage_refusal(
        live_statefulset(size="2Gi"), parse_spec("jobs", {"persistence": {"size": "1Gi"}})
    )
    assert refusal is not None
    assert refusal.reason == "StorageShrinkRefused"
    assert "2Gi" in refusal.message


def test_growth_and_class_change_are_refused_with_the_way_out() -> None:
    live = live_statefulset(size="1Gi")
    grow = storage_refusal(live, parse_spec("jobs", {"persistence": {"size": "5Gi"}}))
    assert grow is not None
    assert grow.reason == "StorageChangeRefused"
    assert "--cascade=orphan" in grow.message
    other_class = parse_spec("jobs", {"persistence": {"storageClassName": "fast"}})
    refusal = storage_refusal(live, other_class)
    assert refusal is not None
    assert refusal.reason == "StorageChangeRefused"


def test_other_changes_are_not_storage_changes() -> None:
    live = live_statefulset(size="1Gi", keepOnDelete=True)
    changed = parse_spec("jobs", {"persistence": {"keepOnDelete": False, "appendfsync": "no"}})
    assert storage_refusal(live, changed) is None
