"""The RedisQueue spec as a typed, validated model: the one source of the RedisQueue's shape.

``make generate`` (package ``codegen``) writes the CRD schema, the ``redisQueue`` part of the
chart's values.schema.json and values.yaml, and the chart README's table from this module:
field names, types, defaults, patterns, enums, bounds, descriptions and the cross-field rules
(as CEL). Adding a field means adding it here and running ``make generate``; a test fails while
a generated file is stale.

The model is still checked by the operator at run time, because it must not act on a spec the
schema would have refused: an old CRD, a server that skipped validation, or a hand-edited object.
Everything downstream (builders, reconcile) receives a :class:`RedisQueueSpec`, never a raw dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from queue_core.settings import DEFAULT_QUEUES, QUEUE_NAME
from queue_operator.conditions import ConditionStatus, ConditionType

# Kubernetes resource quantities, restricted to the forms that make sense for sizes and
# resource amounts (no negative values, no exponent notation).
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
# A volume size: a whole, non-zero number of bytes, so the CRD can refuse "0" by pattern alone.
SIZE_PATTERN = r"^[1-9][0-9]*(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
# Redis memory sizes as redis.conf accepts them: plain bytes or a k/kb/m/mb/g/gb suffix.
REDIS_MEMORY_PATTERN = r"^(0|[1-9][0-9]*([kKmMgG][bB]?)?)$"
# Queue key names: the library's rule (AI_AGENTS_QUEUES), so a queue the CRD accepts is one the
# exporter and queuectl accept too.
QUEUE_NAME_PATTERN = QUEUE_NAME.pattern
# DNS-1123 subdomain names (Secrets, PriorityClasses, StorageClasses).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
OPTIONAL_DNS_SUBDOMAIN_PATTERN = f"^$|{DNS_SUBDOMAIN_PATTERN}"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"  # noqa: S105 (a regex)
# A RedisQueue name becomes part of Service names (DNS-1035 labels, at most 63 characters) and of
# the StatefulSet's controller-revision-hash label "<name>-redis-<10 chars>", hence 46.
MAX_NAME_LENGTH = 46
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_RULE = (
    f"must be a DNS-1035 label of at most {MAX_NAME_LENGTH} characters "
    "(child Service and pod names derive from it)"
)

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


class Quantity(str):
    """A Kubernetes quantity as written (``1Gi``), parsed once into its ``amount`` in units.

    A ``str`` so manifests carry the user's spelling; ``amount`` so that ``1Gi`` and ``1024Mi``
    compare equal wherever the operator needs to tell a real change (a storage shrink, a new
    limit) from a change of spelling, including the canonical form the API server stores.
    """

    __slots__ = ("amount",)
    amount: Decimal

    def __new__(cls, text: object) -> Quantity:
        value = super().__new__(cls, str(text))
        match = re.fullmatch(QUANTITY_PATTERN, value)
        if match is None or isinstance(text, bool):
            raise ValueError(f"not a Kubernetes quantity: {str(text)!r}")
        suffix = match.group(2) or ""
        value.amount = Decimal(value[: len(value) - len(suffix)]) * _SUFFIXES[suffix]
        return value


def same_quantity(live: object, desired: object) -> bool:
    """Whether a live quantity, however the API server spelled it, is ``desired``'s amount.

    A real API server stores quantities in canonical form (``cpu: 0.5`` comes back as ``500m``,
    ``memory: 1024Mi`` as ``1Gi``); comparing strings would rewrite the child on every pass.
    ``desired`` is normally a :class:`Quantity` from the spec, already parsed.
    """
    if str(live) == str(desired):
        return True
    try:
        wanted = desired if isinstance(desired, Quantity) else Quantity(desired)
        return Quantity(live).amount == wanted.amount
    except ValueError:
        return False


def _quantity_schema(pattern: str) -> dict[str, Any]:
    return {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
        "pattern": pattern,
    }


def _to_quantity(value: object) -> Quantity:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return Quantity(value)


# Resource amounts (cpu: 2, memory: 512Mi); JSON/YAML may give a number.
ResourceQuantity = Annotated[
    Quantity,
    PlainValidator(_to_quantity),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(_quantity_schema(QUANTITY_PATTERN)),
]


def _to_size(value: object) -> Quantity:
    if not isinstance(value, str) or re.fullmatch(SIZE_PATTERN, value) is None:
        raise ValueError(f"String should match pattern '{SIZE_PATTERN}'")
    return Quantity(value)


VolumeSize = Annotated[
    Quantity,
    PlainValidator(_to_size),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": SIZE_PATTERN}),
]

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


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule across fields of one object, said once for every place that enforces it.

    ``cel`` goes into the CRD (``x-kubernetes-validations``, the API server evaluates it);
    ``json_schema`` is the same rule as a JSON-schema ``if``/``then`` for the chart's
    values.schema.json, so ``helm lint``/``template``/``install`` refuse it before any cluster
    does; the model's validator raises ``message``.
    """

    cel: str
    message: str
    json_schema: dict[str, Any]


def _when(field: str, condition: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {field: condition}, "required": [field]}


def _rules_into_schema(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """Pydantic's hook: put a model's :class:`Rule` list into its JSON schema (both forms)."""
    rules: tuple[Rule, ...] = getattr(cls, "rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [{"rule": r.cel, "message": r.message} for r in rules]
        schema["allOf"] = [r.json_schema for r in rules]


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields rejected, immutable, and
    strict types: the API server would refuse ``enabled: "yes"``, so the model does too."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
        json_schema_extra=_rules_into_schema,
    )
    rules: ClassVar[tuple[Rule, ...]] = ()


class Persistence(_Model):
    appendfsync: AppendFsync = Field(
        "everysec",
        description="When Redis fsyncs the AOF: always (loses nothing, slower), everysec (at "
        "most one second of writes lost), no (the kernel decides).",
    )
    size: VolumeSize = Field(
        Quantity("1Gi"),
        description="Size of the PVC holding the AOF, a whole non-zero quantity such as 1Gi or "
        "500Mi (not 0, not 1.5Gi). It cannot shrink; growing needs the PVC expanded.",
    )
    storage_class_name: Annotated[str, Field(pattern=OPTIONAL_DNS_SUBDOMAIN_PATTERN)] = Field(
        "",
        description="StorageClass of the PVC; empty uses the cluster default. Immutable once "
        "created.",
    )
    keep_on_delete: bool = Field(
        True,
        description="Keep the PVC (and the jobs in it) when the RedisQueue is deleted, also on "
        "helm uninstall.",
    )


EVICTION_RULE = (
    "maxmemoryPolicy other than noeviction deletes keys (allkeys-*: jobs; volatile-*: keys with "
    "a TTL) when memory is full: set memory.allowEviction: true to accept that, or keep "
    "noeviction"
)


class Memory(_Model):
    maxmemory: Annotated[str, Field(pattern=REDIS_MEMORY_PATTERN)] = Field(
        "0", description="Redis maxmemory: 0 (no limit) or a Redis size such as 512mb, 2gb."
    )
    maxmemory_policy: MaxmemoryPolicy = Field(
        "noeviction",
        description="What Redis does when maxmemory is reached. noeviction refuses new writes "
        "(producers get an error, no job is lost); every other policy deletes keys and needs "
        "allowEviction.",
    )
    allow_eviction: bool = Field(
        False,
        description="Accept a maxmemoryPolicy that deletes keys (allkeys-* delete jobs). Off, "
        "any policy but noeviction is refused.",
    )
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            # has(): the API server also checks the CRD's default for `memory`, `{}`, where
            # the fields' own defaults are not filled in ("no such key" refuses the CRD).
            "!has(self.maxmemoryPolicy) || self.maxmemoryPolicy == 'noeviction'"
            " || (has(self.allowEviction) && self.allowEviction)",
            EVICTION_RULE,
            {
                "if": _when("maxmemoryPolicy", {"not": {"const": "noeviction"}}),
                "then": _when("allowEviction", {"const": True}),
            },
        ),
    )

    @model_validator(mode="after")
    def _eviction_is_opt_in(self) -> Memory:
        if self.maxmemory_policy != "noeviction" and not self.allow_eviction:
            raise ValueError(EVICTION_RULE)
        return self


class Resources(_Model):
    limits: dict[str, ResourceQuantity] = Field(
        default_factory=dict, description="Limits, e.g. memory: 512Mi."
    )
    requests: dict[str, ResourceQuantity] = Field(
        default_factory=dict, description="Requests, e.g. cpu: 100m."
    )

    def as_manifest(self) -> dict[str, Any]:
        """The container ``resources`` field; empty maps are left out, as kubectl would."""
        return {key: dict(value) for key, value in self if value}


class Auth(_Model):
    existing_secret: Annotated[str, Field(pattern=OPTIONAL_DNS_SUBDOMAIN_PATTERN)] = Field(
        "",
        description="Secret holding the Redis password; empty means the operator generates "
        "<name>-redis-auth once and never rotates it.",
    )
    secret_key: Annotated[str, Field(pattern=SECRET_KEY_PATTERN)] = Field(
        "password",
        description="Key of the password inside that Secret (also the key of a generated one).",
    )


class Exporter(_Model):
    enabled: bool = Field(
        True,
        description="Run the Prometheus exporter next to Redis (monitoring and autoscaling "
        "need it).",
    )
    image: Annotated[str, Field(min_length=1)] = Field(
        "ghcr.io/ai-agents/redis-queue-exporter:0.1.0", description="Exporter image."
    )
    resources: Resources = Field(
        default_factory=Resources, description="Resources of the exporter container."
    )


TOLERATION_RULES = (
    Rule(
        "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
        "a toleration with operator Exists must not have a value",
        {
            "if": _when("operator", {"const": "Exists"}),
            "then": {"properties": {"value": {"const": ""}}},
        },
    ),
    Rule(
        "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
        "a toleration without a key must use operator Exists",
        {
            "if": {"not": _when("key", {"minLength": 1})},
            "then": _when("operator", {"const": "Exists"}),
        },
    ),
    Rule(
        "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        "tolerationSeconds needs effect NoExecute",
        {
            "if": {"required": ["tolerationSeconds"]},
            "then": _when("effect", {"const": "NoExecute"}),
        },
    ),
)


class Toleration(_Model):
    """A pod toleration; the API server's own rules are checked here and in the CRD (CEL), so
    a toleration it would refuse in the StatefulSet is refused before the operator retries a
    rejected StatefulSet forever."""

    key: str = ""
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str = ""
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] = ""
    toleration_seconds: int | None = None
    rules: ClassVar[tuple[Rule, ...]] = TOLERATION_RULES

    @model_validator(mode="after")
    def _api_rules(self) -> Toleration:
        exists_with_value, no_key, seconds = (rule.message for rule in TOLERATION_RULES)
        if self.operator == "Exists" and self.value:
            raise ValueError(exists_with_value)
        if not self.key and self.operator != "Exists":
            raise ValueError(no_key)
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(seconds)
        return self

    def as_manifest(self) -> dict[str, Any]:
        """Exactly the fields the user wrote, so the live object compares equal to what we send."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)


class Scheduling(_Model):
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node selector of the Redis pod."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Tolerations of the Redis pod."
    )
    # The Kubernetes Affinity type is large and the API server validates it; kept as given.
    affinity: dict[str, Any] = Field(
        default_factory=dict,
        description="Affinity of the Redis pod (a Kubernetes Affinity, passed as given).",
    )
    priority_class_name: Annotated[str, Field(pattern=OPTIONAL_DNS_SUBDOMAIN_PATTERN)] = Field(
        "", description="PriorityClass of the Redis pod."
    )


class PodDisruptionBudget(_Model):
    enabled: bool = Field(
        True,
        description="A PodDisruptionBudget (minAvailable 1), so a node drain waits until Redis "
        "is moved on purpose.",
    )


QueueName = Annotated[str, Field(pattern=QUEUE_NAME_PATTERN, max_length=256)]


class RedisQueueSpec(_Model):
    image: Annotated[str, Field(min_length=1)] = Field(
        "redis:7.2-alpine",
        description="Redis image (Redis 7.0 or newer, with sh and redis-cli for the probes).",
    )
    image_pull_policy: PullPolicy = Field(
        "IfNotPresent", description="Pull policy of the Redis and exporter images."
    )
    queues: Annotated[list[QueueName], Field(min_length=1, max_length=100)] = Field(
        default_factory=lambda: list(DEFAULT_QUEUES),
        description="Queue keys (Redis lists) the exporter watches; producers LPUSH, workers "
        "BRPOP. The first one feeds the Depth column.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    persistence: Persistence = Field(
        default_factory=Persistence,
        description="Append-only file persistence on a PersistentVolumeClaim.",
    )
    memory: Memory = Field(
        default_factory=Memory,
        description="Redis memory limit and what happens when it is reached.",
    )
    resources: Resources = Field(
        default_factory=Resources, description="Resources of the Redis container."
    )
    auth: Auth = Field(default_factory=Auth, description="Where the Redis password comes from.")
    exporter: Exporter = Field(
        default_factory=Exporter, description="The Prometheus exporter for this queue."
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling, description="Placement of the Redis pod."
    )
    pod_disruption_budget: PodDisruptionBudget = Field(
        default_factory=PodDisruptionBudget, description="Disruption budget of the Redis pod."
    )

    @field_validator("queues")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("queues must not repeat a name")
        return value


def validate_name(name: str) -> None:
    """Refuse names whose children would get invalid or truncated names.

    The CRD carries the same rule (CEL on ``metadata.name``, generated from these constants).
    """
    if len(name) > MAX_NAME_LENGTH or re.fullmatch(NAME_PATTERN, name) is None:
        raise ValueError(f"name {name!r} {NAME_RULE}")


def parse_spec(name: str, raw: Any) -> RedisQueueSpec:
    """Validate a RedisQueue's name and raw spec; raises ``ValueError`` with a readable message."""
    validate_name(name)
    return RedisQueueSpec.model_validate(raw or {})


class _Status(BaseModel):
    """camelCase like the spec, but what the operator writes: no defaults are applied to it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class QueueStatus(_Status):
    name: str
    depth: int | None = None
    error: str | None = Field(
        None, description="Set when the key holds something other than a list."
    )


class AofStatus(_Status):
    enabled: bool | None = None
    last_write_ok: bool | None = None
    rewrite_in_progress: bool | None = None


class StatusCondition(_Status):
    type: ConditionType
    status: ConditionStatus
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime | None = None
    observed_generation: int | None = Field(
        None, description="The metadata.generation this condition was computed for."
    )


class RedisQueueStatus(_Status):
    """The shape of ``status``, written by the operator (the CRD's status schema comes from it)."""

    observed_generation: int | None = Field(
        None, description="The metadata.generation these conditions are about."
    )
    endpoint: str | None = Field(None, description="Client Service address, host:port.")
    depth: int | None = Field(
        None, description="Jobs waiting in the first queue; absent when Redis could not be read."
    )
    queues: list[QueueStatus] | None = None
    aof: AofStatus | None = None
    conditions: list[StatusCondition] | None = Field(
        None,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
