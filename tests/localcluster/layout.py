"""Where the cluster keeps things: one cache for builds, one directory per run.

The cache (binaries, root filesystems, Go caches) outlives clones and runs, so it lives
under the user's cache directory; the run directory holds one cluster's state, logs and
sockets and is removed by ``down``. Both are overridable for machines whose home is small.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
GO_DIR = REPO_ROOT / "cluster" / "go"
CACHE_ENV = "REDIS_QUEUE_CACHE"
RUNS_ENV = "REDIS_QUEUE_RUNS"
# In a run directory, how the ``late`` command (build.LATE's binaries and images, pushed into
# the run's registry beside the e2e run's first phase) tells the second phase it is done: its
# process id, then one of the two others (``failed`` holds the reason).
LATE_PID, LATE_DONE, LATE_FAILED = "late.pid", "late.done", "late.failed"


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$REDIS_QUEUE_CACHE``, else ``$XDG_CACHE_HOME/redis-queue-stack`` (``~/.cache``)."""
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "/root")) / ".cache")
    return Path(base) / "redis-queue-stack"


def runs_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Run directories: short paths, because unix socket paths are limited to 107 bytes."""
    return Path(env.get(RUNS_ENV) or "/run/redis-queue-stack")


def new_run_id() -> str:
    """Short and unique on the machine: it names the network namespace (``rqs-<id>``)."""
    return secrets.token_hex(3)


@dataclass
class RunState:
    """What ``down`` needs to undo a run, written before each thing it undoes is made.

    Teardown works from this file alone, so a run killed at any point (even SIGKILL) can be
    torn down later by ``python -m tests.localcluster down --run-id ID``.
    """

    run_id: str
    run_dir: str
    netns: str
    started: float = field(default_factory=time.time)
    pids: dict[str, int] = field(default_factory=dict)
    host_rules: list[list[str]] = field(default_factory=list)
    # True when /run/netns was not a mount point before the run: ``ip netns add`` then made
    # it one (a shared bind mount of the directory onto itself), and teardown undoes that.
    netns_mount_made: bool = False
    host_snapshot: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / "state.json"

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)

    @classmethod
    def load(cls, run_dir: Path) -> RunState:
        data = json.loads((run_dir / "state.json").read_text(encoding="utf-8"))
        return cls(**data)


def existing_runs(env: Mapping[str, str] = os.environ) -> list[Path]:
    root = runs_dir(env)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "state.json").is_file())
