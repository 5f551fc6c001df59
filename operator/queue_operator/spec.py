"""The RedisQueue spec as a typed, validated model.

The CRD schema in ``manifests/crds/`` is what the API server enforces; this model is what the
operator trusts. They describe the same shape (a test applies the CRD's defaults to an empty
spec and compares with this model's defaults), but the model is checked again here because the
operator must not act on a spec the schema would have refused: an old CRD, a server that skipped
validation, or a hand-edited object. Everything downstream (builders, reconcile) receives a
:class:`RedisQueueSpec`, never a raw dict.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from queue_core.settings import DEFAULT_QUEUES, QUEUE_NAME

# Kubernetes resource quantities, restricted to the forms that make sense for sizes and
# resource amounts (no negative values, no exponent notation).
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
# A volume size: a whole, non-zero number of bytes, so the CRD can refuse "0" by pattern alone.
SIZE_PATTERN = r"^[1-9][0-9]*(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
# Redis memory sizes as redis.conf accepts them: plain bytes or a k/kb/m/mb/g/gb suffix.
REDIS_MEMORY_PATTERN = r"^(0|[1-9][0-9]*([kKmMgG][bB]?)?)$"
# Queue key names: what producers and workers use; no spaces or glob characters. The exporter's
# rule, so a queue the CRD accepts is one the exporter's AI_AGENTS_QUEUES accepts too.
QUEUE_NAME_PATTERN = QUEUE_NAME.pattern
# DNS-1123 subdomain names (Secrets, PriorityClasses).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"  # noqa: S105 (a regex)
# A RedisQueue name becomes part of Service names (DNS-1035 labels, at most 63 characters) and of
# the StatefulSet's controller-revision-hash label "<name>-redis-<10 chars>", hence 46.
MAX_NAME_LENGTH = 46
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def parse_quantity(text: str) -> Decimal:
    """Turn a Kubernetes quantity into a number, so that ``1Gi`` and ``1024Mi`` compare equal.

    Needed to tell a storage shrink (refused) from a change of spelling (harmless).
    """
    match = re.fullmatch(QUANTITY_PATTERN, text)
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number = text[: len(text) - len(match.group(2) or "")]
    return Decimal(number) * _SUFFIXES[match.group(2) or ""]


def same_quantity(live: Any, desired: Any) -> bool:
    """Whether two quantities are the same amount, however the API server spelled the live one.

    A real API server stores quantities in canonical form (``cpu: 0.5`` comes back as ``500m``,
    ``memory: 1024Mi`` as ``1Gi``); comparing strings would rewrite the child on every pass.
    """
    if str(live) == str(desired):
        return True
    try:
        return parse_quantity(str(live)) == parse_quantity(str(desired))
    except ValueError:
        return False


def _quantity(value: str | int) -> str:
    text = str(value)
    parse_quantity(text)
    return text


Quantity = Annotated[str | int, AfterValidator(_quantity)]

AppendFsync = Literal["always", "everysec", "no"]
MaxmemoryPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields rejected, immutable, and
    strict types: the API server would refuse ``enabled: "yes"``, so the model does too."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


class Persistence(_Model):
    appendfsync: AppendFsync = "everysec"
    size: Annotated[str, Field(pattern=SIZE_PATTERN)] = "1Gi"
    storage_class_name: str = ""
    keep_on_delete: bool = True


class Memory(_Model):
    maxmemory: Annotated[str, Field(pattern=REDIS_MEMORY_PATTERN)] = "0"
    maxmemory_policy: MaxmemoryPolicy = "noeviction"


class Resources(_Model):
    limits: dict[str, Quantity] = Field(default_factory=dict)
    requests: dict[str, Quantity] = Field(default_factory=dict)

    def as_manifest(self) -> dict[str, Any]:
        """The container ``resources`` field; empty maps are left out, as kubectl would."""
        return {key: dict(value) for key, value in self if value}


class Auth(_Model):
    existing_secret: Annotated[str, Field(pattern=f"^$|{DNS_SUBDOMAIN_PATTERN}")] = ""
    secret_key: Annotated[str, Field(pattern=SECRET_KEY_PATTERN)] = "password"  # noqa: S105 (key name)


class Exporter(_Model):
    enabled: bool = True
    image: Annotated[str, Field(min_length=1)] = "ghcr.io/ai-agents/redis-queue-exporter:0.1.0"
    resources: Resources = Field(default_factory=Resources)


class Toleration(_Model):
    key: str = ""
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str = ""
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] = ""
    toleration_seconds: int | None = None

    @model_validator(mode="after")
    def _api_rules(self) -> Toleration:
        """The API server's own toleration rules (the CRD has them as CEL rules too): a pod that
        breaks them is refused, and the operator would retry a rejected StatefulSet forever."""
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists must not have a value")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds needs effect NoExecute")
        return self

    def as_manifest(self) -> dict[str, Any]:
        """Exactly the fields the user wrote, so the live object compares equal to what we send."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)


class Scheduling(_Model):
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    # The Kubernetes Affinity type is large and the API server validates it; kept as given.
    affinity: dict[str, Any] = Field(default_factory=dict)
    priority_class_name: Annotated[str, Field(pattern=f"^$|{DNS_SUBDOMAIN_PATTERN}")] = ""


class PodDisruptionBudget(_Model):
    enabled: bool = True


class RedisQueueSpec(_Model):
    image: Annotated[str, Field(min_length=1)] = "redis:7.2-alpine"
    image_pull_policy: PullPolicy = "IfNotPresent"
    queues: Annotated[
        list[Annotated[str, Field(pattern=QUEUE_NAME_PATTERN, max_length=256)]],
        Field(min_length=1, max_length=100),
    ] = Field(default_factory=lambda: list(DEFAULT_QUEUES))
    persistence: Persistence = Field(default_factory=Persistence)
    memory: Memory = Field(default_factory=Memory)
    resources: Resources = Field(default_factory=Resources)
    auth: Auth = Field(default_factory=Auth)
    exporter: Exporter = Field(default_factory=Exporter)
    scheduling: Scheduling = Field(default_factory=Scheduling)
    pod_disruption_budget: PodDisruptionBudget = Field(default_factory=PodDisruptionBudget)

    @field_validator("queues")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("queues must not repeat a name")
        return value


def validate_name(name: str) -> None:
    """Refuse names whose children would get invalid or truncated names.

    The CRD carries the same rule (CEL on ``metadata.name``); this is the operator's own guard.
    """
    if len(name) > MAX_NAME_LENGTH or re.fullmatch(NAME_PATTERN, name) is None:
        raise ValueError(
            f"name {name!r} must be a DNS-1035 label of at most {MAX_NAME_LENGTH} characters "
            "(child Service and pod names are derived from it)"
        )


def parse_spec(name: str, raw: Any) -> RedisQueueSpec:
    """Validate a RedisQueue's name and raw spec; raises ``ValueError`` with a readable message."""
    validate_name(name)
    return RedisQueueSpec.model_validate(raw or {})
