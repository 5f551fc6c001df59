"""What every handler shares, built once per operator run by
:func:`queue_operator.registration.register`.

Handlers are top-level functions that take this context as their first argument (bound with
:func:`functools.partial` at registration), instead of closures over local variables: each
handler can be read, and imported by a test, on its own, and the CLI and the tests each build
a context from their own :class:`OperatorConfig`.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from queue_operator.config import OperatorConfig
from queue_operator.kube import KubeApi
from queue_operator.sweeper import Sweeper

# The sweeper's job that reads Redis and the rollout into the status (queue_operator.periodic).
REFRESH_JOB = "refresh-status"


class Locks:
    """One lock per RedisQueue (by uid): a change handler and the sweeper's two jobs run
    concurrently, and each rewrites the whole conditions list. Unused locks are dropped."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def get(self, uid: str) -> asyncio.Lock:
        lock = self._locks.get(uid)
        if lock is None:
            lock = self._locks[uid] = asyncio.Lock()
        return lock


@dataclass(frozen=True, slots=True)
class OperatorContext:
    """The operator's settings and the state its handlers share for one run."""

    config: OperatorConfig
    api: KubeApi = field(default_factory=KubeApi)
    locks: Locks = field(default_factory=Locks)
    # Started by the startup handler, stopped by the cleanup handler.
    sweepers: list[Sweeper] = field(default_factory=list)

    def refresh_soon(self, uid: str) -> None:
        """Read the status of RedisQueue ``uid`` now rather than an interval later: a rollout
        has started, and waiters (``helm upgrade --wait``) want to hear when it is done."""
        for sweeper in self.sweepers:
            sweeper.run_soon(uid, REFRESH_JOB)
