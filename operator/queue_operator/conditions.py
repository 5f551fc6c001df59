"""Status conditions in the Kubernetes convention (metav1.Condition: type, status, reason,
message, lastTransitionTime, observedGeneration).

The types follow kstatus, which is what ``helm upgrade --wait`` (Helm 4) and Flux read:
``Reconciling`` True while the operator works toward the current generation (InProgress),
``Stalled`` True when the spec cannot be realized without a user change (Failed: the wait ends
with the operator's message instead of a timeout), and ``Ready`` True only once the current
generation is served (see :mod:`queue_operator.readiness`).

``lastTransitionTime`` moves only when a condition's status flips, so ``kubectl describe`` shows
how long Redis has been unreachable, not when the status was last refreshed.
``observedGeneration`` is the ``metadata.generation`` a condition was computed for:
``kubectl wait --for=condition=Ready`` does not accept a condition about an older generation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

ConditionType = Literal["Ready", "Reconciling", "Stalled", "PersistenceHealthy"]
ConditionStatus = Literal["True", "False", "Unknown"]
ORDER: tuple[ConditionType, ...] = ("Ready", "Reconciling", "Stalled", "PersistenceHealthy")


@dataclass(frozen=True, slots=True)
class Condition:
    type: ConditionType
    status: ConditionStatus
    reason: str
    message: str = ""


def merge_conditions(
    current: Sequence[Mapping[str, Any]],
    updates: Iterable[Condition],
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    """The full new list (merge patches replace lists): updates win, the rest is kept.

    Types the operator no longer writes (``Progressing`` and ``Degraded`` of older versions)
    are dropped: the CRD's schema lists only :data:`ConditionType`, so keeping them would make
    every status write invalid. ``generation`` is stamped on the updated conditions only.
    """
    by_type = {str(item.get("type")): dict(item) for item in current}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition in updates:
        previous = by_type.get(condition.type)
        transition = stamp
        if previous is not None and previous.get("status") == condition.status:
            transition = previous.get("lastTransitionTime", stamp)
        entry: dict[str, Any] = {
            "type": condition.type,
            "status": condition.status,
            "reason": condition.reason,
            "message": condition.message,
            "lastTransitionTime": transition,
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        by_type[condition.type] = entry
    return [by_type[kind] for kind in ORDER if kind in by_type]
