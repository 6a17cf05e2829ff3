"""An incident's timeline for an export: its CloudEvents in seq order, page by page, each
as the caller's timeline shows it (data above their clearance redacted)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from app.services.access.caller import Caller
from app.services.access.classification import (
    ACTOR_CLASSIFICATION,
    highest,
    reaches,
    redact_json,
    redact_text,
)
from app.services.feed.subjects import subject_of
from app.services.incidents.snapshot import get_visible_incident
from app.services.incidents.timeline import events_after


async def envelopes(*, caller: Caller, incident_id: str) -> AsyncIterator[dict[str, Any]]:
    """NOT_FOUND (before anything is read) when the incident does not exist for the caller."""
    incident = await get_visible_incident(caller=caller, incident_id=incident_id, field="id")
    return _envelopes(caller, incident.id, incident.classification)


async def _envelopes(caller: Caller, incident_id: str, level: Any) -> AsyncIterator[dict[str, Any]]:
    actor_readable = reaches(caller.clearance, highest(ACTOR_CLASSIFICATION, level))
    subject = subject_of("incident", incident_id)
    last = 0
    while True:
        batch = await events_after(
            tenant_id=caller.tenant_id, incident_id=incident_id, after_seq=last
        )
        for event in batch:
            envelope = event.cloud_event()
            envelope["subject"] = subject
            if not reaches(caller.clearance, highest(event.classification, level)):
                envelope["data"] = redact_json(event.data)
            envelope["actor"] = event.actor if actor_readable else redact_text(event.actor)
            yield envelope
            last = event.seq
        if not batch:
            return
