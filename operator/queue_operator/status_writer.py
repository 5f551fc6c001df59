"""Writing the RedisQueue's status: the one place that patches the status subresource.

Three writers share it (the change handlers in :mod:`queue_operator.on_change`, and the
sweeper's drift repair and status refresh in :mod:`queue_operator.periodic`), each owning some
conditions. A merge patch replaces the conditions list as a whole, so each write merges into
the freshest status read just before, under the per-object lock the writers hold
(:class:`queue_operator.context.Locks`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from queue_operator.conditions import Condition, merge_conditions
from queue_operator.kube import KubeApi
from queue_operator.naming import Owner


async def write_status(
    api: KubeApi,
    owner: Owner,
    conditions: Iterable[Condition],
    fields: dict[str, Any] | None = None,
    generation: int | None = None,
) -> None:
    """Merge conditions into the freshest status (not the handler's possibly stale body);
    ``generation`` is the one they were computed for (their ``observedGeneration``)."""
    live = await api.get_queue(owner.namespace, owner.name)
    if live is None:
        return  # deleted meanwhile; nothing to report on
    current = live.get("status", {}).get("conditions", [])
    status = dict(fields or {})
    status["conditions"] = merge_conditions(current, conditions, datetime.now(UTC), generation)
    await api.patch_queue_status(owner.namespace, owner.name, status)
