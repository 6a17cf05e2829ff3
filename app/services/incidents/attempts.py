"""An incident command's attempts: load the incident, decide its events, write the projection,
its events and the outbox row in one transaction, and decide again when another writer won
the race. The commands (`commands.py`) say only what to decide."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from app.core.clock import utcnow
from app.errors import Conflict, NotFound
from app.models import Classification, Incident
from app.services import writer
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible
from app.services.access.tenants import get_policy
from app.services.incidents import cadence
from app.services.incidents.policy import TenantPolicy
from app.services.incidents.snapshot import IncidentSnapshot, get_incident, parse_incident_id
from app.services.incidents.timeline import EventRecord, NewEvent, find_by_event_id

RACE_RETRIES = 20
# Seconds: the most a writer waits after its first lost race (times the losses so far).
RACE_BACKOFF = 0.005


@dataclass(frozen=True, slots=True)
class CommandResult:
    incident: IncidentSnapshot
    events: list[EventRecord]


Decide = Callable[[Incident, TenantPolicy, datetime], list[NewEvent]]


async def apply_decision(
    *,
    caller: Caller,
    incident_id: str,
    version: int | None,
    decide: Decide,
    bumps_version: bool = True,
    also: Callable[[IncidentSnapshot], Awaitable[None]] | None = None,
    prepare: Callable[[Incident], Awaitable[None]] | None = None,
) -> CommandResult:
    """`_attempts` with the other writers of this process to the same incident queued behind
    it: they would only lose the race to it (and retry) if they ran beside it. Writers in
    other processes still race, and the loser retries."""
    key = parse_incident_id(incident_id)
    lock = _writers.setdefault(key, _Writers())
    lock.users += 1
    try:
        async with lock.lock:
            return await _attempts(
                caller=caller,
                incident_id=incident_id,
                version=version,
                decide=decide,
                bumps_version=bumps_version,
                also=also,
                prepare=prepare,
            )
    finally:
        lock.users -= 1
        if not lock.users and _writers.get(key) is lock:
            del _writers[key]


class _Writers:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


# The incidents this process is writing, each with a lock its writers take in turn.
_writers: dict[uuid.UUID, _Writers] = {}


async def _attempts(
    *,
    caller: Caller,
    incident_id: str,
    version: int | None,
    decide: Decide,
    bumps_version: bool = True,
    also: Callable[[IncidentSnapshot], Awaitable[None]] | None = None,
    prepare: Callable[[Incident], Awaitable[None]] | None = None,
) -> CommandResult:
    """Load, decide, write projection + events + outbox atomically; retry lost races.
    `prepare` runs on each attempt once the row is read, before `decide`.

    The projection row is updated only where its last_seq is still the one decided on, so two
    writers can never hand out the same seq; the loser re-reads and decides again, unless the
    caller pinned a version, in which case a stale version is a CONFLICT.
    """
    tenant_id, actor, clearance = caller.tenant_id, caller.actor, caller.clearance
    key = parse_incident_id(incident_id)
    policy = await get_policy(tenant_id=tenant_id)
    for attempt in range(RACE_RETRIES):
        if attempt:
            # Writers that lost the same race would otherwise all come back at once and
            # race again: spread them out, more with every loss.
            await asyncio.sleep(random.uniform(0, RACE_BACKOFF * attempt))
        row = await Incident.get_or_none(tenant_id=tenant_id, id=key)
        if row is None or not incident_visible(clearance, row.classification):
            raise NotFound(f"no incident with id {incident_id!r}", field="id")
        if version is not None and row.version != version:
            raise Conflict(
                f"incident is at version {row.version}, not {version}; reload and retry",
                field="version",
            )
        if prepare is not None:
            await prepare(row)
        now = utcnow()
        seen_seq = row.last_seq
        before = IncidentSnapshot.from_model(row)
        new_events = decide(row, policy, now)
        if not new_events:
            return CommandResult(IncidentSnapshot.from_model(row), [])
        row.update_due_at = cadence.next_to_announce(row, policy)
        row.updated_at = now
        row.last_seq = seen_seq + len(new_events)
        if bumps_version:
            row.version += 1
        try:
            async with writer.transaction() as commit:
                await commit.update(row, seen_seq=seen_seq)
                snapshot = IncidentSnapshot.from_model(row)
                events = await commit.record(
                    before, snapshot, new_events, actor=actor, now=now, first_seq=seen_seq + 1
                )
                if also is not None:
                    await also(snapshot)
        except writer.LostRace:
            continue
        except IntegrityError as exc:
            replay = [e for e in new_events if e.source and e.event_id]
            if replay and await find_by_event_id(
                tenant_id=tenant_id, source=replay[0].source, event_id=replay[0].event_id
            ):
                existing = await replayed(
                    tenant_id=tenant_id, event_id=replay[0].event_id, clearance=clearance
                )
                if existing is not None:
                    return existing
            raise Conflict("the incident changed while this was written; retry") from exc
        return CommandResult(snapshot, events)
    raise Conflict("the incident is changing too fast; retry", field="id")


async def replayed(
    *, tenant_id: str, event_id: str, clearance: Classification
) -> CommandResult | None:
    from app.services.incidents.timeline import API_SOURCE

    record = await find_by_event_id(tenant_id=tenant_id, source=API_SOURCE, event_id=event_id)
    if record is None:
        return None
    incident = await get_incident(tenant_id=tenant_id, incident_id=record.incident_id)
    if not incident_visible(clearance, incident.classification):
        # Replaying it would show an incident the caller may not know exists.
        raise Conflict("eventId was already used", field="eventId")
    return CommandResult(incident, [record])
