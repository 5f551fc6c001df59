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
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, the form the documented job format uses."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _as_utc(value: datetime) -> datetime:
    # The contract says UTC; a naive stamp is taken as UTC rather than local time.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A moment as the contract writes it, for jobs and dead-letter envelopes alike.
UtcTime = Annotated[datetime, AfterValidator(_as_utc), PlainSerializer(iso_utc, return_type=str)]


class Job(BaseModel):
    """One unit of work. Unknown fields are kept, so producers can add data without a release.

    The field descriptions and examples are what ``queuectl push --help`` shows, so the help
    cannot drift from the contract.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    job_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()), description="unique id (default: a new UUID)"
    )
    tenant_id: str = Field(description="the tenant the job is for", examples=["t1"])
    ticket_id: str = Field(description="the ticket it works on", examples=["TKT-1"])
    description: str = Field(description="what to do", examples=["slow server"])
    priority: str = Field("normal", description="free text, e.g. low, normal, high")
    timestamp: UtcTime = Field(
        default_factory=utc_now,
        description="when it was enqueued, ISO-8601, naive means UTC (default: now)",
    )


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A payload that is not a valid job, with a reason a person can act on."""

    raw: str
    reason: str


def encode_job(job: Job) -> str:
    """Compact JSON, UTF-8 kept as is (no ``\\u`` escapes), so redis-cli output stays legible.

    ``timestamp`` comes first: the exporter and the operator read only the first bytes of the
    next job of each queue (``queue_core.snapshot.PREFIX_BYTES``), and the age must be inside
    them however long the description is. The rest is pydantic's own serialisation of the other
    fields, in declaration order; decoding accepts the members in any order.
    """
    rest = job.model_dump_json(exclude={"timestamp"})  # '{"job_id":...}', never empty
    return f'{{"timestamp":"{iso_utc(job.timestamp)}",{rest[1:]}'


def _reason(error: ValidationError) -> str:
    """Every problem of a payload on one line, field first: ``ticket_id: Field required``."""
    problems = error.errors(include_url=False, include_input=False)
    return "; ".join(
        f"{'.'.join(str(p) for p in problem['loc']) or 'payload'}: {problem['msg']}"
        for problem in problems
    )


def decode_job(raw: str) -> Job | Undecodable:
    try:
        return Job.model_validate_json(raw)
    except ValidationError as error:
        return Undecodable(raw=raw, reason=_reason(error))


class DeadLetter(BaseModel):
    """An entry of a dead-letter list: a payload that was not a job, why, from where, and when.

    The raw payload is kept verbatim (a string, even if it was not JSON) so it can be fixed and
    re-pushed. The time goes in ``timestamp`` like a job's, which makes the exporter's
    ``redis_queue_oldest_job_age_seconds`` for the dead-letter list mean "how long the oldest
    dead letter has been waiting for a person".
    """

    model_config = ConfigDict(frozen=True)

    payload: str
    reason: str
    queue: str  # the source queue the payload was taken from
    timestamp: UtcTime


def dead_letter_entry(raw: str, reason: str, source_queue: str, at: datetime) -> str:
    """The JSON stored in a dead-letter list for ``raw``.

    ASCII escapes on purpose: a payload that was not UTF-8 reaches us with its bad bytes as
    lone surrogates (the pool decodes with ``surrogateescape``); ``\\udcff`` escapes keep the
    entry valid JSON while ``json.loads`` + ``encode("utf-8", "surrogateescape")`` still
    restores the original bytes. ``timestamp`` first, as in :func:`encode_job`: the dead-letter
    list's age is read from the first bytes of its oldest entry, and the payload can be large.
    """
    entry = DeadLetter(payload=raw, reason=reason, queue=source_queue, timestamp=at)
    fields = entry.model_dump(mode="json")
    return json.dumps({"timestamp": fields.pop("timestamp"), **fields})


def decode_dead_letter(raw: str) -> DeadLetter | Undecodable:
    """A dead-letter entry, or why it is not one (somebody pushed something else there).

    ``json.loads`` first, not ``model_validate_json``: pydantic's JSON parser refuses the lone
    surrogate escapes that :func:`dead_letter_entry` writes for a payload that was not UTF-8.
    """
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:
        return Undecodable(raw=raw, reason=f"payload: Invalid JSON: {error}")
    try:
        return DeadLetter.model_validate(value)
    except ValidationError as error:
        return Undecodable(raw=raw, reason=_reason(error))
