"""The chart's RedisQueue becomes Ready, `kubectl get rqueue` shows its printer columns, and the
API server enforces the CRD's generated CEL rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from queue_operator.spec import EVICTION_RULE, MAX_NAME_LENGTH, NAME_RULE, TOLERATION_RULES
from tests.e2e.stack import wait_rqueue_ready
from tests.support.kube import (
    CommandError,
    E2ESettings,
    Kubectl,
    cell_text,
    jsonpath,
    parse_table,
    printer_columns,
    run,
)

pytestmark = pytest.mark.e2e

CRD = "redisqueues.queues.ai-agents.io"


def test_redisqueue_becomes_ready(
    kubectl: Kubectl, settings: E2ESettings, rqueue_name: str
) -> None:
    obj = wait_rqueue_ready(kubectl, rqueue_name, settings.ready_timeout)
    status = obj["status"]
    assert status["endpoint"] == f"{rqueue_name}-redis.{settings.namespace}.svc:6379"
    assert status["aof"]["enabled"] is True
    sts = kubectl.get("statefulset", f"{rqueue_name}-redis")
    assert sts is not None
    assert sts["status"].get("readyReplicas") == 1


def test_get_rqueue_shows_the_printer_columns(kubectl: Kubectl, rqueue_name: str) -> None:
    crd = kubectl.json("get", "crd", CRD, namespace="")
    columns = [c for c in printer_columns(crd) if c.priority == 0]
    assert columns, "the CRD declares no additionalPrinterColumns"
    obj = kubectl.get("rqueue", rqueue_name)
    assert obj is not None

    rows = parse_table(kubectl.run("get", "rqueue"))
    by_name = {row["NAME"]: row for row in rows}
    assert rqueue_name in by_name, rows
    row = by_name[rqueue_name]
    for column in columns:
        assert column.header in row, f"column {column.header} missing from {list(row)}"
        if (
            column.type in ("string", "integer", "boolean")
            and "status.depth" not in column.json_path
        ):
            # depth may move between the two reads; everything else must match the object.
            assert row[column.header] == cell_text(jsonpath(obj, column.json_path)), column


def _server_dry_run(kubectl: Kubectl, name: str, spec: dict[str, Any]) -> None:
    manifest = {
        "apiVersion": "queues.ai-agents.io/v1alpha1",
        "kind": "RedisQueue",
        "metadata": {"name": name},
        "spec": spec,
    }
    run(kubectl.command("apply", "--dry-run=server", "-f", "-"), input_text=json.dumps(manifest))


REFUSED_BY_CEL = [
    ("jobs", {"memory": {"maxmemoryPolicy": "allkeys-lru"}}, EVICTION_RULE),
    (
        "jobs",
        {"scheduling": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}},
        TOLERATION_RULES[0].message,
    ),
    ("1jobs", {}, NAME_RULE),  # a valid object name (DNS-1123), not a DNS-1035 label
    ("j" * (MAX_NAME_LENGTH + 1), {}, NAME_RULE),
]


def test_the_api_server_applies_the_generated_cel_rules(kubectl: Kubectl) -> None:
    """The CRD's CEL rules are generated from spec.Rule; only a real API server evaluates them
    (an invalid rule makes the API server refuse the whole CRD, or every object). One test over
    the cases: the e2e suite counts its tests by their definitions."""
    for name, spec, message in REFUSED_BY_CEL:
        with pytest.raises(CommandError) as refused:
            _server_dry_run(kubectl, name, spec)
        assert message in refused.value.stderr, (name, spec, refused.value.stderr)


def test_the_api_server_accepts_an_evicting_policy_with_its_opt_in(kubectl: Kubectl) -> None:
    _server_dry_run(
        kubectl, "jobs", {"memory": {"maxmemoryPolicy": "allkeys-lru", "allowEviction": True}}
    )
