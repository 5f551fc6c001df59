"""Conditions bookkeeping and the status derived from a Redis snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

from queue_core.snapshot import LoadingState, MemoryState, PersistenceState, Snapshot
from queue_operator.conditions import Condition, merge_conditions
from queue_operator.redis_probe import report_from_snapshot, report_loading, report_unreachable

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def test_transition_time_moves_only_when_status_flips() -> None:
    first = merge_conditions([], [Condition("Ready", "False", "RedisUnreachable", "down")], T0, 1)
    same = merge_conditions(
        first, [Condition("Ready", "False", "RedisUnreachable", "still")], T1, 1
    )
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["message"] == "still"
    flipped = merge_conditions(same, [Condition("Ready", "True", "RedisAnswering")], T1, 1)
    assert flipped[0]["lastTransitionTime"] == "2026-01-02T00:00:00Z"


def test_other_conditions_are_kept_in_a_stable_order() -> None:
    current = merge_conditions(
        [], [Condition("Stalled", "False", "Reconciled"), Condition("Ready", "True", "Up")], T0, 1
    )
    merged = merge_conditions(
        current, [Condition("PersistenceHealthy", "True", "AOFHealthy")], T1, 1
    )
    assert [c["type"] for c in merged] == ["Ready", "Stalled", "PersistenceHealthy"]


def test_each_updated_condition_carries_the_generation_it_is_about() -> None:
    current = merge_conditions([], [Condition("Stalled", "False", "Reconciled")], T0, 3)
    merged = merge_conditions(current, [Condition("Ready", "False", "RollingOut")], T1, 4)
    by_type = {c["type"]: c for c in merged}
    assert by_type["Ready"]["observedGeneration"] == 4
    assert by_type["Stalled"]["observedGeneration"] == 3  # not recomputed: still about 3


def test_conditions_of_older_operator_versions_are_dropped() -> None:
    """The CRD's schema no longer lists them: a status write keeping them would be refused."""
    older = [
        {"type": "Progressing", "status": "False", "reason": "Reconciled"},
        {"type": "Degraded", "status": "False", "reason": "Reconciled"},
        {"type": "Ready", "status": "True", "reason": "RedisAnswering"},
    ]
    merged = merge_conditions(older, [Condition("Stalled", "False", "Reconciled")], T0, 2)
    assert [c["type"] for c in merged] == ["Ready", "Stalled"]


def snapshot(**persistence: bool) -> Snapshot:
    state = {
        "aof_enabled": True,
        "aof_last_write_ok": True,
        "aof_rewrite_in_progress": False,
        "aof_last_rewrite_ok": True,
        **persistence,
    }
    return Snapshot(
        names=("enhancement:queue", "bad"),
        depths=(7, None),
        enqueued=(None, None),
        persistence=PersistenceState(**state),
        memory=MemoryState(used_bytes=1_048_576, max_bytes=None),
        ping_seconds=0.001,
        errors={1: "WRONGTYPE"},
    )


def test_report_from_a_healthy_snapshot() -> None:
    report = report_from_snapshot(snapshot())
    assert report.fields["depth"] == 7
    assert report.fields["queues"] == [
        {"name": "enhancement:queue", "depth": 7},
        {"name": "bad", "error": "WRONGTYPE"},
    ]
    assert report.fields["aof"] == {
        "enabled": True,
        "lastWriteOk": True,
        "rewriteInProgress": False,
    }
    assert [(c.type, c.status) for c in report.conditions] == [
        ("Ready", "True"),
        ("PersistenceHealthy", "True"),
    ]


def test_aof_failures_are_conditions() -> None:
    cases = {
        "AOFDisabled": {"aof_enabled": False},
        "AOFWriteFailed": {"aof_last_write_ok": False},
        "AOFRewriteFailed": {"aof_last_rewrite_ok": False},
    }
    for reason, state in cases.items():
        persistence = report_from_snapshot(snapshot(**state)).conditions[1]
        assert (persistence.status, persistence.reason) == ("False", reason)


def test_a_loading_redis_is_not_ready_and_says_how_far_it_is() -> None:
    report = report_loading(LoadingState(loaded_ratio=0.25, eta_seconds=12))
    ready, persistence = report.conditions
    assert (ready.status, ready.reason) == ("False", "Loading")
    assert ready.message == "Redis is loading its AOF into memory: 25% loaded, about 12 s to go"
    assert persistence.status == "Unknown"
    assert report.fields == {"depth": None, "queues": None, "aof": None}
    unknown = report_loading(None).conditions[0]
    assert unknown.message == "Redis is loading its AOF into memory"


def test_unreachable_reports_no_numbers() -> None:
    report = report_unreachable("RedisUnreachable", "connection refused")
    assert report.fields == {"depth": None, "queues": None, "aof": None}
    assert [(c.type, c.status) for c in report.conditions] == [
        ("Ready", "False"),
        ("PersistenceHealthy", "Unknown"),
    ]
