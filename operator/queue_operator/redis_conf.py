"""redis.conf for a queue server: AOF durability first, no eviction, no password in the file.

The password reaches Redis as ``--requirepass $(REDIS_PASSWORD)`` (Kubernetes expands the
variable from the Secret), so this file can live in a ConfigMap that anyone allowed to read
ConfigMaps may read.
"""

from __future__ import annotations

from queue_operator.naming import REDIS_PORT
from queue_operator.spec import RedisQueueSpec

DATA_DIR = "/data"


def render_redis_conf(spec: RedisQueueSpec) -> str:
    """The whole file; deterministic, so its checksum only changes when the settings do."""
    lines = [
        "# Managed by queue-operator from the RedisQueue spec; manual edits are overwritten.",
        f"port {REDIS_PORT}",
        "bind * -::*",
        # With a password set, protected mode still refuses unauthenticated remote clients.
        "protected-mode yes",
        f"dir {DATA_DIR}",
        # Jobs must survive a crash: every write goes to the append-only file.
        "appendonly yes",
        f"appendfsync {spec.persistence.appendfsync}",
        # Rewrites start with an RDB snapshot: faster restarts after long uptimes.
        "aof-use-rdb-preamble yes",
        # A torn last write after a node crash must not stop Redis from starting.
        "aof-load-truncated yes",
        # The AOF is the persistence; periodic RDB snapshots would only duplicate it.
        'save ""',
        f"maxmemory {spec.memory.maxmemory}",
        # noeviction makes a full Redis refuse writes instead of silently deleting jobs.
        f"maxmemory-policy {spec.memory.maxmemory_policy}",
        "loglevel notice",
        'logfile ""',
    ]
    return "\n".join(lines) + "\n"
