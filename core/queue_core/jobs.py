"""The job contract and its JSON codec, including the dead-letter envelope.

Jobs travel as JSON text because every consumer (Python workers, Celery, redis-cli users)
can read it. Decoding never raises: it returns either a :class:`Job` or an
:class:`Undecodable` carrying the raw text and the reason, so no code path can drop a bad
payload by letting an exception escape; the caller must decide, and the queue library's
decision is always "dead-letter it with the reason".
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, the form the story's message format shows."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Job(BaseModel):
    """One unit of work. Unknown fields are kept, so producers can add data without a release."""

    model_config = ConfigDict(extra="allow", frozen=True)

    job_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    tenant_id: str
    ticket_id: str
    description: str
    priority: str = "normal"
    timestamp: datetime = Field(default_factory=utc_now)

    @field_validator("timestamp")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        # The contract says UTC; a naive stamp is taken as UTC rather than local time.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_serializer("timestamp")
    def _stamp(self, value: datetime) -> str:
        return iso_utc(value)


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A payload that is not a valid job, with a reason a person can act on."""

    raw: str
    reason: str


def encode_job(job: Job) -> str:
    """Compact JSON, UTF-8 kept as is (no ``\\u`` escapes), so redis-cli output stays legible."""
    return job.model_dump_json()


def decode_job(raw: str) -> Job | Undecodable:
    try:
        return Job.model_validate_json(raw)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        reason = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc']) or 'payload'}: {problem['msg']}"
            for problem in problems
        )
        return Undecodable(raw=raw, reason=reason)


def dead_letter_entry(raw: str, reason: str, source_queue: str, at: datetime) -> str:
    """The JSON stored in a dead-letter list.

    The raw payload is kept verbatim (a string, even if it was not JSON) so it can be fixed and
    re-pushed. The time goes in ``timestamp`` like a job's, which makes the exporter's
    ``redis_queue_oldest_job_age_seconds`` for the dead-letter list mean "how long the oldest
    dead letter has been waiting for a person".

    ASCII escapes on purpose: a payload that was not UTF-8 reaches us with its bad bytes as
    lone surrogates (the pool decodes with ``surrogateescape``); ``\\udcff`` escapes keep the
    entry valid JSON while ``json.loads`` + ``encode("utf-8", "surrogateescape")`` still
    restores the original bytes.
    """
    return json.dumps(
        {"payload": raw, "reason": reason, "queue": source_queue, "timestamp": iso_utc(at)}
    )
