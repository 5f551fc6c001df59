"""The chart's RedisQueue becomes Ready, and `kubectl get rqueue` shows its printer columns."""

from __future__ import annotations

import pytest

from tests.e2e.stack import wait_rqueue_ready
from tests.support.kube import (
    E2ESettings,
    Kubectl,
    cell_text,
    jsonpath,
    parse_table,
    printer_columns,
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
