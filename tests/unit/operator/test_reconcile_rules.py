"""The pure decisions of reconcile: what counts as drift, and which changes are refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from queue_operator.builders import build_children, build_statefulset
from queue_operator.kube import ApiError, Manifest
from queue_operator.naming import APPLIED_HASH, Owner
from queue_operator.reconcile import (
    ChildRejected,
    contains,
    immutable_refusal,
    keep_immutable,
    reconcile,
    stamp,
    storage_refusal,
)
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


def test_quantities_the_api_server_normalised_are_not_drift() -> None:
    desired = {
        "resources": {
            "requests": {"cpu": "0.5", "memory": "1024Mi"},
            "limits": {"cpu": "1000m", "memory": "2Gi"},
        }
    }
    live = {
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        }
    }
    assert contains(live, desired)
    assert not contains({"resources": {**live["resources"], "limits": {"cpu": "2"}}}, desired)
    # Outside limits/requests a string is a string: "1.0" is not "1" in an env var.
    assert not contains(
        {"env": [{"name": "A", "value": "1"}]}, {"env": [{"name": "A", "value": "1.0"}]}
    )


def test_normalised_storage_in_a_live_statefulset_is_not_drift() -> None:
    spec = parse_spec("jobs", {"persistence": {"size": "1024Mi"}})
    desired = build_statefulset(OWNER, spec, config_checksum="c", secret_checksum="s")
    live = copy.deepcopy(desired)
    live["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "1Gi"
    assert contains(live, desired)


def test_unchanged_immutable_fields_are_no_refusal() -> None:
    live = live_statefulset()
    assert immutable_refusal(live, live_statefulset(), parse_spec("jobs", {})) is None


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda s: s["selector"]["matchLabels"].update(extra="x"), "spec.selector"),
        (lambda s: s.update(serviceName="other"), "spec.serviceName"),
        (
            lambda s: s["volumeClaimTemplates"][0]["spec"].update(accessModes=["ReadWriteMany"]),
            "accessModes",
        ),
        (lambda s: s["volumeClaimTemplates"][0]["spec"].update(volumeMode="Block"), "volumeMode"),
        (lambda s: s["volumeClaimTemplates"][0]["metadata"].update(name="redis"), "names"),
    ],
    ids=["selector", "serviceName", "accessModes", "volumeMode", "claim-name"],
)
def test_any_immutable_difference_is_refused_not_patched(edit: Any, field: str) -> None:
    live = live_statefulset()
    edit(live["spec"])
    refusal = immutable_refusal(live, live_statefulset(), parse_spec("jobs", {}))
    assert refusal is not None
    assert refusal.reason == "StatefulSetChangeRefused"
    assert field in refusal.message
    assert "--cascade=orphan" in refusal.message


def test_claim_labels_of_older_versions_are_kept_not_refused() -> None:
    """Older operators put every owner label on the claim template; the live one is kept, so
    the apply does not touch the immutable template at all."""
    live = live_statefulset()
    claim = live["spec"]["volumeClaimTemplates"][0]
    claim["metadata"]["labels"] = OWNER.labels("redis")
    claim["spec"]["volumeMode"] = "Filesystem"  # a server default
    live["spec"]["selector"]["matchExpressions"] = []
    desired = live_statefulset()
    assert immutable_refusal(live, desired, parse_spec("jobs", {})) is None
    kept = keep_immutable(desired, live)
    for key in ("selector", "serviceName", "volumeClaimTemplates"):
        assert kept["spec"][key] == live["spec"][key]
    assert kept["spec"]["template"] == desired["spec"]["template"]
    assert contains(live, {"spec": {"volumeClaimTemplates": kept["spec"]["volumeClaimTemplates"]}})


class RejectingApi:
    """Just enough of KubeApi: nothing exists yet, and one kind is refused with HTTP 422."""

    def __init__(self, rejected_kind: str) -> None:
        self.rejected_kind = rejected_kind
        self.applied: list[str] = []

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        return None

    async def create(self, obj: Manifest) -> Manifest:
        return await self.apply(obj)

    async def apply(self, obj: Manifest) -> Manifest:
        if obj["kind"] == self.rejected_kind:
            raise ApiError(422, f'{obj["kind"]}.apps "{obj["metadata"]["name"]}" is invalid')
        self.applied.append(obj["kind"])
        return obj


async def test_a_child_the_api_server_rejects_is_named_in_the_error() -> None:
    api = RejectingApi("StatefulSet")
    with pytest.raises(ChildRejected) as caught:
        await reconcile(api, OWNER, parse_spec("jobs", {}))  # type: ignore[arg-type]
    assert caught.value.child == "StatefulSet/jobs-redis"
    assert caught.value.status == 422
    assert "StatefulSet/jobs-redis" in caught.value.message
    assert "is invalid" in caught.value.message
    # Children before it in apply order were written; none after it.
    assert api.applied == ["Secret", "ConfigMap", "Service", "Service"]


async def test_other_api_errors_stay_api_errors() -> None:
    class Down(RejectingApi):
        async def apply(self, obj: Manifest) -> Manifest:
            raise ApiError(503, "unavailable")

    with pytest.raises(ApiError):
        await reconcile(Down(""), OWNER, parse_spec("jobs", {}))  # type: ignore[arg-type]


def test_children_order_puts_the_statefulset_after_its_config() -> None:
    kinds = [c["kind"] for c in build_children(OWNER, parse_spec("jobs", {}), secret_checksum="")]
    assert kinds.index("ConfigMap") < kinds.index("StatefulSet")
