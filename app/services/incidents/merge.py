"""Merging one incident into another: the target takes the source's alerts, alert groups,
linked tickets and timeline; the source is cancelled with a pointer to the target.

One transaction writes both projections (each under the same last_seq guard as every other
command), both timelines, both outbox messages and both audit records, so subscribers of
either incident see the merge, and a merge that loses a race with another writer is decided
again on fresh rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from app.core.clock import utcnow
from app.core.ids import uuid_key
from app.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.models import (
    Alert,
    AlertGroup,
    Classification,
    Incident,
    IncidentStatus,
    LinkedTicket,
    SyncJobKind,
    TimelineEvent,
)
from app.services import lease, writer
from app.services.access.caller import Caller
from app.services.access.classification import (
    DEFAULT_EVENT_CLASSIFICATION,
    highest,
    incident_visible,
    reaches,
)
from app.services.alerts.processor import LEASE_NAME as PROCESSOR_LEASE
from app.services.incidents import lifecycle
from app.services.incidents import validation as validation
from app.services.incidents.attempts import RACE_RETRIES
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import EventRecord, EventType, NewEvent
from app.services.itsm import outbound as itsm_outbound
from app.services.itsm import tickets as itsm_tickets


@dataclass(frozen=True, slots=True)
class MergeResult:
    source: IncidentSnapshot
    target: IncidentSnapshot
    source_events: list[EventRecord]
    target_events: list[EventRecord]


async def merge_incidents(
    *,
    caller: Caller,
    source_id: str,
    target_id: str,
    reason: str | None = None,
) -> MergeResult:
    """Merge `source_id` into `target_id` (both incident UUIDs). An incident the caller may
    not see is not found."""
    tenant_id, actor, clearance = caller.tenant_id, caller.actor, caller.clearance
    reason = validation.text(reason, field="reason")
    source_key, target_key = _key(source_id, "sourceId"), _key(target_id, "targetId")
    if source_key == target_key:
        raise ValidationFailed("an incident cannot be merged into itself", field="targetId")
    for _ in range(RACE_RETRIES):
        source = await _load(tenant_id, source_key, "sourceId", clearance)
        target = await _load(tenant_id, target_key, "targetId", clearance)
        # The source's alerts, groups and tickets move as they are, unclassified copies of
        # its data: on a less classified target, callers the source hides from would read them.
        if not reaches(target.classification, source.classification):
            raise ValidationFailed(
                f"INC-{source.number} is {source.classification.value} and INC-{target.number} "
                f"is {target.classification.value}; raise the target's classification to "
                f"{source.classification.value} first",
                field="targetId",
            )
        try:
            return await _merge(source, target, actor=actor, reason=reason)
        except writer.LostRace:
            continue
        except IntegrityError as exc:
            raise Conflict("the incidents changed while the merge was written; retry") from exc
    raise Conflict("the incidents are changing too fast; retry", field="sourceId")


async def _merge(
    source: Incident, target: Incident, *, actor: str | None, reason: str | None
) -> MergeResult:
    now = utcnow()
    source_before = IncidentSnapshot.from_model(source)
    target_before = IncidentSnapshot.from_model(target)
    source_seen, target_seen = source.last_seq, target.last_seq
    _cancel(source, into=target, now=now)
    source.last_seq = source_seen + 2
    source.version += 1
    # Seqs are contiguous from 1: the source has exactly source_seen events to copy.
    target.updated_at = now
    target.last_seq = target_seen + 1 + source_seen
    source_after = IncidentSnapshot.from_model(source)
    target_after = IncidentSnapshot.from_model(target)
    async with writer.transaction() as commit:
        # Both guarded updates in one order (by id), so two merges of the same pair in opposite
        # directions cannot deadlock each other on PostgreSQL.
        for row, seen in sorted(((source, source_seen), (target, target_seen)), key=_by_id):
            await commit.update(row, seen_seq=seen)
        # The alert processor's batch either commits before this (its alerts are moved
        # below) or starts after (it finds the groups on the target): never one that links
        # new alerts to the source, read before this commit, and writes them after. Fenced
        # after the incidents and before groups and alerts, the order linkAlert locks them in.
        await lease.fence(PROCESSOR_LEASE)
        originals = (
            await TimelineEvent.filter(incident_id=source.id, seq__lte=source_seen)
            .order_by("seq")
            .values("seq", "type", "time", "event_id", "actor", "data", "classification")
        )
        groups = await AlertGroup.filter(tenant_id=source.tenant_id, incident_id=source.id).update(
            incident_id=target.id
        )
        alerts = await Alert.filter(tenant_id=source.tenant_id, incident_id=source.id).update(
            incident_id=target.id, updated_at=now
        )
        tickets = await LinkedTicket.filter(tenant_id=source.tenant_id, incident_id=source.id)
        if tickets:
            # The tickets now mirror the target; its earlier notes are not replayed onto them.
            await LinkedTicket.filter(id__in=[t.id for t in tickets]).update(
                incident_id=target.id, note_seq=target.last_seq
            )
            for ticket in tickets:
                await itsm_tickets.enqueue_job(ticket, SyncJobKind.RECONCILE)
            commit.after_commit.append(lambda: itsm_outbound.jobs_queued.send(None))
        reference = {"id": source_after.id, "number": source.number, "title": source.title}
        merged_into_target = [
            NewEvent(
                type=EventType.MERGED,
                data={
                    "from": reference,
                    "reason": reason,
                    "counts": {
                        "events": len(originals),
                        "notes": sum(1 for e in originals if e["type"] == EventType.NOTE_ADDED),
                        "alerts": alerts,
                        "alertGroups": groups,
                        "tickets": len(tickets),
                    },
                },
                # It carries the source's title: as classified as the source's title is.
                classification=highest(DEFAULT_EVENT_CLASSIFICATION, source_before.classification),
            ),
            *(_copy(source_before, original) for original in originals),
        ]
        # They name the target and carry the merge's reason, written about the target: as
        # classified as the target is, or a reader of the source who may not see the target
        # would learn it exists, its number and why.
        about_target = highest(DEFAULT_EVENT_CLASSIFICATION, target_before.classification)
        # The merge moves its alerts and tickets itself (above): the hooks are not run, or the
        # source's copied notes would be sent again to the tickets now on the target.
        source_events = await commit.record(
            source_before,
            source_after,
            [
                NewEvent(
                    type=EventType.MERGED,
                    data={
                        "into": {"id": target_after.id, "number": target.number},
                        "reason": reason,
                    },
                    classification=about_target,
                ),
                NewEvent(
                    type=EventType.STATE_CHANGE,
                    data={
                        "from": source_before.status.value,
                        "to": IncidentStatus.CANCELLED.value,
                        "reason": reason,
                    },
                    classification=about_target,
                ),
            ],
            actor=actor,
            now=now,
            first_seq=source_seen + 1,
            hooks=False,
        )
        # Audited: the merge itself, not each copied event.
        target_events = await commit.record(
            target_before,
            target_after,
            merged_into_target,
            actor=actor,
            now=now,
            first_seq=target_seen + 1,
            audited=1,
            hooks=False,
        )
    return MergeResult(source_after, target_after, source_events, target_events)


def _cancel(source: Incident, *, into: Incident, now: datetime) -> None:
    """The source's side of the merge: CANCELLED, pointing at the target, its clocks stopped."""
    if source.status is IncidentStatus.OPEN and source.acknowledged_at is None:
        source.acknowledged_at = now
    if source.sla_paused_since is not None:
        source.sla_paused_seconds += (now - source.sla_paused_since).total_seconds()
        source.sla_paused_since = None
    source.status = IncidentStatus.CANCELLED
    source.cancelled_at = now
    source.merged_into_id = into.id
    source.updated_at = now


def _copy(source: IncidentSnapshot, original: dict[str, Any]) -> NewEvent:
    """One of the source's events on the target's timeline, as classified as it was there."""
    time = original["time"]
    return NewEvent(
        type=EventType.MERGED_EVENT,
        data={
            "incidentId": source.id,
            "number": source.number,
            "seq": original["seq"],
            "type": original["type"],
            "time": time.isoformat() if isinstance(time, datetime) else time,
            "eventId": original["event_id"],
            "actor": original["actor"],
            "data": original["data"],
        },
        classification=highest(Classification(original["classification"]), source.classification),
    )


async def _load(tenant_id: str, key: uuid.UUID, field: str, clearance: Classification) -> Incident:
    row = await Incident.get_or_none(tenant_id=tenant_id, id=key)
    if row is None or not incident_visible(clearance, row.classification):
        raise NotFound(f"no incident with id {str(key)!r}", field=field)
    if row.status in lifecycle.TERMINAL:
        raise InvalidTransition(
            f"incident INC-{row.number} is {row.status.value}; a closed or cancelled incident "
            "cannot take part in a merge",
            field=field,
        )
    return row


def _key(value: str, field: str) -> uuid.UUID:
    return uuid_key(value, noun="incident", field=field)


def _by_id(item: tuple[Incident, int]) -> str:
    return str(item[0].id)
