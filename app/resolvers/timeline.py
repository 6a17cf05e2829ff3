"""Timeline commands and the resumable timeline feed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import strawberry
from strawberry.types import Info

from app.core import metrics
from app.errors import DomainError, NotFound, ValidationFailed
from app.models import Classification
from app.resolvers.incident import incident_key
from app.resolvers.live import guarded
from app.schema.authorization import authorize
from app.schema.common import UserError
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.push import Follower
from app.schema.timeline import AddNoteInput, TimelineEvent, TimelineEventPayload
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.incidents import commands as service
from app.services.incidents import live
from app.services.incidents.timeline import decode_seq_cursor


async def add_note(info: Info[Context, Any], input: AddNoteInput) -> TimelineEventPayload:
    principal = authorize(info, Action.ADD_NOTE)
    try:
        result = await service.add_note(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id),
            body=input.body,
            kind=input.kind,
            mentions=input.mentions,
            event_id=input.event_id,
            classification=input.classification,
        )
    except DomainError as error:
        return TimelineEventPayload(event=None, errors=[_add_note_error(error)])
    event = TimelineEvent.of(
        result.events[0],
        clearance=principal.clearance,
        incident_classification=result.incident.classification,
    )
    return TimelineEventPayload(event=event, errors=[])


def _add_note_error(error: DomainError) -> UserError:
    # The services call the incident's id "id"; addNote's input calls it incidentId.
    if isinstance(error, NotFound) and error.field == "id":
        return UserError(field="incidentId", code=error.code, message=error.message)
    return UserError.of(error)


async def timeline_event_added(
    info: Info[Context, Any], incident_id: strawberry.ID, after: str | None = None
) -> AsyncGenerator[TimelineEvent, None]:
    principal = authorize(info, Action.READ_INCIDENTS)
    clearance = principal.clearance
    after_seq: int | None = None
    if after is not None:
        after_seq = decode_seq_cursor(after)
        if after_seq is None:
            raise graphql_error(ValidationFailed("malformed cursor in after", field="after"))
    try:
        key = incident_key(incident_id)
    except DomainError as error:
        raise graphql_error(error) from None
    stream = live.timeline_events(
        broker=info.context.broker,
        caller=Caller.of(principal),
        incident_id=key,
        after=after_seq,
    )

    def build(item: live.TimelineItem, *, shared: dict[str, Any] | None) -> TimelineEvent:
        return TimelineEvent.of(
            item.event,
            clearance=clearance,
            incident_classification=item.incident_classification,
            shared=shared,
        )

    follower = Follower.of(info)
    async with aclosing(guarded(stream)) as items:
        async for item in items:
            if item.value.incident_classification is Classification.RESTRICTED:
                await audit.record_reads(
                    tenant_id=principal.tenant_id, targets=[key], via="timelineEventAdded"
                )
            if item.shared is not None:
                metrics.delivered("timelineEventAdded", item.value.event.time)
            value = live.shared_object(item, f"timeline-event:{clearance.value}", build)
            if follower is None or not follower.sent(value):
                yield value
