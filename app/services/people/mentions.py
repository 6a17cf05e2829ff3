"""@mentions kept per user: what waits for them (`me { mentions }`), and what the
notifications that follow a mention are sent from.

Written by a writer hook in the transaction of the note itself, so a note and its mentions
are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.errors import ValidationFailed
from app.models import Mention
from app.services.access.caller import actor_user_id
from app.services.incidents.timeline import EventType
from app.services.writer import Change


async def on_incident_change(change: Change) -> Callable[[], None] | None:
    rows = [
        Mention(
            tenant_id=change.after.tenant_id,
            user_id=user_id,
            incident_id=change.after.id,
            seq=event.seq,
            event_id=event.id,
            actor=event.actor,
            created_at=change.now,
        )
        for event in change.events
        if event.type == EventType.NOTE_ADDED
        for user_id in map(actor_user_id, event.data.get("mentionedUsers", ()))
        if user_id is not None
    ]
    if rows:
        await Mention.bulk_create(rows)
    return None


@dataclass(frozen=True, slots=True)
class MentionView:
    id: int
    incident_id: str
    seq: int
    actor: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MentionPage:
    items: list[tuple[str, MentionView]]
    has_next_page: bool
    has_previous_page: bool


def _key(cursor: str) -> int:
    key = decode_key_cursor("mention", cursor)
    if not key.isdigit():
        raise ValidationFailed("malformed cursor", field="after")
    return int(key)


async def list_mentions(
    *, tenant_id: str, user_id: str, first: int | None = None, after: str | None = None
) -> MentionPage:
    """The user's mentions, newest first."""
    size = page_size(first)
    query = Mention.filter(tenant_id=tenant_id, user_id=user_id)
    if after is not None:
        query = query.filter(id__lt=_key(after))
    rows = await query.order_by("-id").limit(size + 1)
    items = [
        (
            encode_key_cursor("mention", str(r.id)),
            MentionView(r.id, str(r.incident_id), r.seq, r.actor, r.created_at),
        )
        for r in rows[:size]
    ]
    return MentionPage(items, has_next_page=len(rows) > size, has_previous_page=after is not None)
