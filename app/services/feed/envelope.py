"""A feed item as a CloudEvents v1.0 envelope, as someone of a given clearance may read it:
an incident's event as its timeline shows it, a record's as the record's timeline does
(text above the clearance reads [REDACTED]). The API, the HTTP feed and outbound webhooks all
send this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.models import Classification
from app.services.access.classification import (
    ACTOR_CLASSIFICATION,
    highest,
    reaches,
    record_event_readable,
    redact_json,
    redact_text,
)
from app.services.feed.queries import FeedItem, encode_cursor
from app.services.incidents.timeline import EventRecord


@dataclass(frozen=True, slots=True)
class Envelope:
    body: dict[str, Any]
    actor: str | None
    redacted: bool


def envelope(item: FeedItem, clearance: Classification) -> Envelope:
    event = item.event
    if isinstance(event, EventRecord):
        assert item.classification is not None
        readable = reaches(clearance, highest(event.classification, item.classification))
        actor_readable = reaches(clearance, highest(ACTOR_CLASSIFICATION, item.classification))
    else:
        readable = item.classification is None or record_event_readable(
            clearance, item.classification
        )
        actor_readable = readable
    data = dict(event.data) if readable else redact_json(event.data)
    body = {
        "specversion": "1.0",
        "id": event.event_id,
        "source": event.source,
        "type": event.type,
        "subject": item.subject,
        "time": event.time.isoformat(),
        "datacontenttype": "application/json",
        "sequence": encode_cursor(item.position),
        "data": data,
    }
    actor = event.actor if actor_readable else redact_text(event.actor)
    return Envelope(body, actor, not (readable and actor_readable))
