"""The spec model: defaults, and refusal of everything the operator cannot honour."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from queue_operator.spec import Quantity, RedisQueueSpec, parse_spec, same_quantity


def test_defaults_follow_the_contract() -> None:
    spec = parse_spec("jobs", {})
    assert spec.image == "redis:7.2-alpine"
    assert spec.queues == ["enhancement:queue", "enhancement:dlq"]
    assert spec.persistence.appendfsync == "everysec"
    assert spec.persistence.size == "1Gi"
    assert spec.persistence.keep_on_delete is True
    assert spec.memory.maxmemory == "0"
    assert spec.memory.maxmemory_policy == "noeviction"
    assert spec.auth.existing_secret == ""
    assert spec.auth.secret_key == "password"
    assert spec.exporter.enabled is True
    assert spec.pod_disruption_budget.enabled is True
    assert parse_spec("jobs", None) == spec


def test_camel_case_fields_are_read() -> None:
    spec = parse_spec(
        "jobs",
        {
            "imagePullPolicy": "Always",
            "persistence": {"storageClassName": "fast", "keepOnDelete": False},
            "memory": {"maxmemory": "2gb", "maxmemoryPolicy": "allkeys-lru", "allowEviction": True},
            "auth": {"existingSecret": "my-secret", "secretKey": "redis-password"},
            "scheduling": {"priorityClassName": "high", "nodeSelector": {"disk": "ssd"}},
            "podDisruptionBudget": {"enabled": False},
            "resources": {"limits": {"memory": "1Gi", "cpu": 2}},
        },
    )
    assert spec.image_pull_policy == "Always"
    assert spec.persistence.storage_class_name == "fast"
    assert spec.persistence.keep_on_delete is False
    assert spec.memory.maxmemory == "2gb"
    assert spec.auth.existing_secret == "my-secret"
    assert spec.scheduling.priority_class_name == "high"
    assert spec.pod_disruption_budget.enabled is False
    assert spec.resources.limits == {"memory": "1Gi", "cpu": "2"}


INVALID: list[tuple[str, dict[str, Any]]] = [
    ("appendfsync", {"persistence": {"appendfsync": "sometimes"}}),
    ("size", {"persistence": {"size": "lots"}}),
    ("size", {"persistence": {"size": "0"}}),
    ("size", {"persistence": {"size": "-1Gi"}}),
    ("maxmemory", {"memory": {"maxmemory": "2 GB"}}),
    ("maxmemory_policy", {"memory": {"maxmemoryPolicy": "lru"}}),
    # A policy that deletes keys (jobs, for allkeys-*) only with the named opt-in.
    ("allowEviction", {"memory": {"maxmemoryPolicy": "allkeys-lru"}}),
    ("allowEviction", {"memory": {"maxmemoryPolicy": "volatile-ttl", "allowEviction": False}}),
    ("queues", {"queues": []}),
    ("queues", {"queues": ["has space"]}),
    ("queues", {"queues": ["a", "a"]}),
    ("existing_secret", {"auth": {"existingSecret": "Not_A_Name"}}),
    ("image_pull_policy", {"imagePullPolicy": "Sometimes"}),
    ("operator", {"scheduling": {"tolerations": [{"operator": "In"}]}}),
    # What the API server refuses in a pod (the CRD has these as CEL rules).
    ("Exists", {"scheduling": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}),
    ("key", {"scheduling": {"tolerations": [{"operator": "Equal", "value": "v"}]}}),
    ("tolerationSeconds", {"scheduling": {"tolerations": [{"key": "k", "tolerationSeconds": 5}]}}),
    ("limits", {"resources": {"limits": {"memory": "a lot"}}}),
    ("unknown", {"unknown": True}),
    ("persistance", {"persistance": {}}),
]


@pytest.mark.parametrize(("field", "raw"), INVALID)
def test_invalid_specs_are_refused(field: str, raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=field.split("_")[0]):
        parse_spec("jobs", raw)


@pytest.mark.parametrize("name", ["a" * 47, "1jobs", "Jobs", "jobs-", "jo.bs"])
def test_names_that_would_break_child_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="DNS-1035"):
        parse_spec(name, {})


def test_longest_allowed_name() -> None:
    parse_spec("a" * 46, {})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1Gi", Decimal(2**30)),
        ("1024Mi", Decimal(2**30)),
        ("1.5G", Decimal(1_500_000_000)),
        ("500m", Decimal("0.5")),
        ("3", Decimal(3)),
    ],
)
def test_quantities_compare_by_value(text: str, value: Decimal) -> None:
    assert Quantity(text).amount == value


@pytest.mark.parametrize(
    ("live", "desired"),
    [("500m", "0.5"), ("1Gi", "1024Mi"), ("1", "1000m"), ("1536Mi", "1.5Gi"), ("2", 2)],
)
def test_quantities_the_api_server_normalised_are_the_same(live: str, desired: str | int) -> None:
    assert same_quantity(live, desired)


@pytest.mark.parametrize(("live", "desired"), [("500m", "0.6"), ("1G", "1Gi"), ("lots", "1")])
def test_different_or_unreadable_quantities_differ(live: str, desired: str) -> None:
    assert not same_quantity(live, desired)


def test_tolerations_the_api_server_accepts_pass() -> None:
    parse_spec(
        "jobs",
        {
            "scheduling": {
                "tolerations": [
                    {"operator": "Exists"},
                    {"key": "k", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 30},
                ]
            }
        },
    )


def test_an_evicting_policy_is_accepted_with_the_opt_in() -> None:
    spec = parse_spec("jobs", {"memory": {"maxmemoryPolicy": "allkeys-lru", "allowEviction": True}})
    assert spec.memory.maxmemory_policy == "allkeys-lru"


def test_quantities_are_parsed_once_and_keep_their_spelling() -> None:
    spec = parse_spec(
        "jobs", {"persistence": {"size": "1024Mi"}, "resources": {"limits": {"cpu": 2}}}
    )
    assert spec.persistence.size == "1024Mi"
    assert spec.persistence.size.amount == Quantity("1Gi").amount
    assert spec.resources.as_manifest() == {"limits": {"cpu": "2"}}
    assert spec.model_dump(by_alias=True, mode="json")["persistence"]["size"] == "1024Mi"


def test_spec_is_immutable() -> None:
    spec = RedisQueueSpec()
    with pytest.raises(ValueError, match="frozen"):
        spec.image = "other"  # type: ignore[misc]
