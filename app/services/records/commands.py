"""The command machinery the records around the incident share: numbered creation, a
guarded change with its timeline events and audit record, and a link to an incident that
writes both timelines in one transaction.

Records are classified like incidents: a RESTRICTED one does not exist for a caller not
cleared for it (NOT_FOUND), any other does (its text read [REDACTED] above the caller's
clearance), and nobody classifies a record above their own clearance.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from tortoise.exceptions import IntegrityError

from app.core.clock import utcnow
from app.core.ids import parse_uuid
from app.errors import Conflict, Forbidden, NotFound
from app.models import Classification
from app.services import writer
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible, reaches
from app.services.incidents import commands as incident_commands
from app.services.incidents.snapshot import IncidentSnapshot, get_incident
from app.services.records import timeline
from app.services.records.timeline import RecordEventView

RACE_RETRIES = 20

NewEvents = list[tuple[str, Mapping[str, Any]]]


class RecordRow(Protocol):
    id: Any
    tenant_id: str
    number: int
    last_seq: int
    version: int
    updated_at: datetime
    classification: Classification


Row = TypeVar("Row", bound=RecordRow)


def require_clearance(caller: Caller, classification: Classification) -> None:
    if not reaches(caller.clearance, classification):
        raise Forbidden(
            f"your clearance ({caller.clearance.value}) does not reach {classification.value}",
            field="classification",
        )


async def load(model: Any, caller: Caller, record_id: str, *, noun: str, field: str = "id") -> Any:
    """The record, when it exists for the caller; NOT_FOUND on `field` otherwise."""
    key = parse_uuid(record_id)
    row = await model.get_or_none(tenant_id=caller.tenant_id, id=key) if key else None
    if row is None or not incident_visible(caller.clearance, row.classification):
        raise NotFound(f"no {noun} with id {record_id!r}", field=field)
    return row


async def create_numbered(
    model: Any,
    caller: Caller,
    *,
    record_type: str,
    values: Mapping[str, Any],
    event: tuple[str, Mapping[str, Any]],
    action: str,
    prefix: str,
    also: Callable[[Any], Awaitable[None]] | None = None,
) -> tuple[Any, list[RecordEventView]]:
    """Create a record with the tenant's next number, its first event and audit record;
    `also` writes what belongs with it (links) in the same transaction."""
    for _ in range(RACE_RETRIES):
        now = utcnow()
        try:
            async with writer.transaction():
                latest = await model.filter(tenant_id=caller.tenant_id).order_by("-number").first()
                row = await model.create(
                    id=uuid.uuid4(),
                    tenant_id=caller.tenant_id,
                    number=(latest.number if latest else 0) + 1,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
                if also is not None:
                    await also(row)
                events = await timeline.append(
                    model, row, record_type, [event], actor=caller.actor, now=now
                )
                await audit.record(
                    tenant_id=caller.tenant_id,
                    action=action,
                    target=str(row.id),
                    changes={"reference": f"{prefix}-{row.number}", **event[1]},
                )
        except IntegrityError:
            continue  # another record took the number: take the next
        return row, events
    raise Conflict(f"{record_type}s are being created too fast; retry")


async def apply(
    model: Any,
    caller: Caller,
    record_id: str,
    *,
    record_type: str,
    decide: Callable[[Any, datetime], NewEvents],
    action: str,
    fields: Sequence[str],
    version: int | None = None,
) -> tuple[Any, list[RecordEventView]]:
    """Load, decide, write the row's `fields`, its events and audit record; retry lost
    races. `decide` changes the row and returns the events (none: nothing to do)."""
    for _ in range(RACE_RETRIES):
        row = await load(model, caller, record_id, noun=record_type)
        if version is not None and row.version != version:
            raise Conflict(
                f"the {record_type} is at version {row.version}, not {version}; reload and retry",
                field="version",
            )
        now = utcnow()
        new = decide(row, now)
        if not new:
            return row, []
        row.updated_at, row.version = now, row.version + 1
        changes = {name: getattr(row, name) for name in (*fields, "updated_at", "version")}
        try:
            async with writer.transaction():
                events = await timeline.append(
                    model, row, record_type, new, actor=caller.actor, now=now, changes=changes
                )
                await audit.record(
                    tenant_id=caller.tenant_id,
                    action=action,
                    target=str(row.id),
                    changes={kind.rsplit(".", 2)[-2]: data for kind, data in new},
                )
        except writer.LostRace:
            continue
        return row, events
    raise Conflict(f"the {record_type} is changing too fast; retry", field="id")


async def visible_incidents(
    caller: Caller, incident_ids: Sequence[str], *, field: str
) -> list[IncidentSnapshot]:
    """The incidents, each one the caller may see; NOT_FOUND on `field` for any other."""
    found = []
    for incident_id in dict.fromkeys(incident_ids):
        try:
            snapshot = await get_incident(tenant_id=caller.tenant_id, incident_id=incident_id)
        except NotFound:
            raise NotFound(f"no incident with id {incident_id!r}", field=field) from None
        if not incident_visible(caller.clearance, snapshot.classification):
            raise NotFound(f"no incident with id {incident_id!r}", field=field)
        found.append(snapshot)
    return found


async def link_incident(
    model: Any,
    caller: Caller,
    row: Any,
    incident: IncidentSnapshot,
    *,
    record_type: str,
    global_id: str,
    reference: str,
    linked: bool,
    event: tuple[str, Mapping[str, Any]],
    write_link: Callable[[Any, datetime], Awaitable[Mapping[str, Any]]],
    action: str,
) -> list[RecordEventView]:
    """Link (or unlink) an incident: `write_link` writes the link row and returns the row
    changes that go with it; the record's event and the incident's are written together."""
    written: list[RecordEventView] = []

    async def record_side(_: IncidentSnapshot) -> None:
        now = utcnow()
        current = await model.get(id=row.id)
        changes = {"updated_at": now, **(await write_link(current, now))}
        written.extend(
            await timeline.append(
                model, current, record_type, [event], actor=caller.actor, now=now, changes=changes
            )
        )
        await audit.record(
            tenant_id=caller.tenant_id,
            action=action,
            target=str(current.id),
            changes={"incident": incident.id, **event[1]},
        )

    try:
        await incident_commands.link_record(
            caller=caller,
            incident_id=incident.id,
            record={"record": record_type, "id": global_id, "reference": reference},
            linked=linked,
            also=record_side,
        )
    except (writer.LostRace, IntegrityError):
        raise Conflict(
            f"the {record_type} changed while it was linked; retry", field=f"{record_type}Id"
        ) from None
    return written


async def link_records(
    caller: Caller,
    first: tuple[Any, Any, str, tuple[str, Mapping[str, Any]]],
    second: tuple[Any, Any, str, tuple[str, Mapping[str, Any]]],
    *,
    write_link: Callable[[datetime], Awaitable[None]],
    action: str,
    audit_changes: Mapping[str, Any],
) -> list[RecordEventView]:
    """Link two records (model, row, record type, event each): the link row and an event on
    each timeline in one transaction. Returns the first record's events."""
    now = utcnow()
    try:
        async with writer.transaction():
            await write_link(now)
            written = []
            for model, row, record_type, event in (first, second):
                current = await model.get(id=row.id)
                written.append(
                    await timeline.append(
                        model,
                        current,
                        record_type,
                        [event],
                        actor=caller.actor,
                        now=now,
                        changes={"updated_at": now},
                    )  # fmt: skip
                )
            await audit.record(
                tenant_id=caller.tenant_id, action=action, target=str(first[1].id),
                changes=dict(audit_changes),
            )  # fmt: skip
    except writer.LostRace:
        raise Conflict("a linked record changed meanwhile; retry", field="id") from None
    return written[0]
