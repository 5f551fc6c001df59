"""Status conditions in the Kubernetes convention (type, status, reason, message, time).

``lastTransitionTime`` moves only when a condition's status flips, so ``kubectl describe`` shows
how long Redis has been unreachable, not when the status was last refreshed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

ConditionType = Literal["Ready", "PersistenceHealthy", "Progressing", "Degraded"]
ConditionStatus = Literal["True", "False", "Unknown"]
ORDER: tuple[ConditionType, ...] = ("Ready", "PersistenceHealthy", "Progressing", "Degraded")


@dataclass(frozen=True, slots=True)
class Condition:
    type: ConditionType
    status: ConditionStatus
    reason: str
    message: str = ""


def merge_conditions(
    current: Sequence[Mapping[str, Any]], updates: Iterable[Condition], now: datetime
) -> list[dict[str, Any]]:
    """The full new list (merge patches replace lists): updates win, the rest is kept."""
    by_type = {str(item.get("type")): dict(item) for item in current}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition in updates:
        previous = by_type.get(condition.type)
        transition = stamp
        if previous is not None and previous.get("status") == condition.status:
            transition = previous.get("lastTransitionTime", stamp)
        by_type[condition.type] = {
            "type": condition.type,
            "status": condition.status,
            "reason": condition.reason,
            "message": condition.message,
            "lastTransitionTime": transition,
        }
    known = [by_type.pop(kind) for kind in ORDER if kind in by_type]
    return known + [by_type[kind] for kind in sorted(by_type)]
