"""The operator's own settings (environment ``QUEUE_OPERATOR_*``), separate from any RedisQueue.

The intervals are settings rather than constants so tests can run the sweeper's real periodic
jobs (drift repair, status refresh) in seconds, and so a large cluster can slow them down.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUEUE_OPERATOR_", frozen=True)

    # How often every child is compared with the spec and repaired (deleted/edited by hand).
    reconcile_interval: float = Field(default=60.0, gt=0)
    # How often Redis is read for depths and AOF state.
    status_interval: float = Field(default=30.0, gt=0)
    # How often the status is read while Redis rolls out a new generation, so that
    # `helm upgrade --wait` and `kubectl wait --for=condition=Ready` return soon after it is
    # served.
    rollout_interval: float = Field(default=3.0, gt=0)
    # Connect/read timeout for that read; well below the interval so a frozen Redis cannot
    # pile up reads.
    redis_timeout: float = Field(default=3.0, gt=0)
    # Retry delay after a Kubernetes API error or a missing Secret.
    retry_delay: float = Field(default=15.0, gt=0)
    # Retry delay after the API server rejected a child as invalid (HTTP 400/422): the same
    # object cannot succeed until the spec changes, so retry slowly.
    rejected_retry_delay: float = Field(default=120.0, gt=0)
    # Where the status refresh finds Redis; ``{name}``/``{namespace}`` are the RedisQueue's. The
    # default is the client Service; running the operator outside the cluster, point it at a
    # port-forward (e.g. host 127.0.0.1).
    redis_host: str = "{name}-redis.{namespace}.svc"
    redis_port: int = Field(default=6379, gt=0, lt=65536)
