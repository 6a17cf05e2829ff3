"""Notes both ways: incident notes as work notes / comments on linked tickets, and back.

Outbound: a note added to a linked incident enqueues a sync job for each ticket (outbound.py);
the worker posts every note with a seq above the ticket's `note_seq` that the connection may
export (`export_notes_up_to`: PUBLIC or INTERNAL, never higher), then moves `note_seq` on. A
note is as classified as the higher of its own label and its incident's: an INTERNAL (or
PUBLIC) note on a CONFIDENTIAL incident is CONFIDENTIAL, and stays.
Each posted text ends with a marker naming the note's event id; before posting, the worker
looks for that marker on the ticket it just fetched, so a retry after a post whose answer was
lost never posts it twice.

Inbound: work notes and comments found on the ticket (by a sync, or in a Jira webhook) become
notes on the incident, actor the provider, stored as timeline events whose (source, event id)
is the provider and the product's comment id: the same comment is imported once. Texts with
our marker are ours and are not imported.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.errors import Conflict
from app.models import ItsmConnection, LinkedTicket, NoteKind, TimelineEvent
from app.services.access.caller import Caller
from app.services.access.classification import exportable
from app.services.incidents import commands as incidents
from app.services.incidents.snapshot import get_incident
from app.services.incidents.timeline import EventType, NewEvent
from app.services.incidents.validation import TEXT_MAX_BYTES
from app.services.itsm import outbound
from app.services.itsm.connector import Connector, RemoteNote, RemoteTicket

MARKER = "[incidentgraph note "


def source_of(ticket: LinkedTicket) -> str:
    return f"itsm://{ticket.provider.value}"


def is_ours(text: str) -> bool:
    return MARKER in text


def outgoing_text(body: str, *, event_id: str, actor: str | None) -> str:
    by = f" by {actor}" if actor else ""
    return f"{body}\n\n{MARKER}{event_id}{by}]"


async def post_notes(
    *,
    connector: Connector,
    connection: ItsmConnection,
    ticket: LinkedTicket,
    remote: RemoteTicket,
) -> int:
    """Post the incident's notes the ticket has not had yet; how many were posted."""
    rows = await TimelineEvent.filter(
        tenant_id=ticket.tenant_id,
        incident_id=ticket.incident_id,
        type=EventType.NOTE_ADDED,
        seq__gt=ticket.note_seq,
    ).order_by("seq")
    on_ticket = "\n".join([*remote.comments, *(n.body for n in remote.notes)])
    incident = await get_incident(tenant_id=ticket.tenant_id, incident_id=str(ticket.incident_id))
    posted = 0
    for row in rows:
        from_here = row.data.get("ticketId") == str(ticket.id)
        body = row.data.get("body")
        if (
            not from_here
            and isinstance(body, str)
            and exportable(
                connection.export_notes_up_to,
                row.classification,
                incident=incident.classification,
            )
            and f"{MARKER}{row.event_id}" not in on_ticket
        ):
            await connector.add_comment(
                remote.key, outgoing_text(body, event_id=row.event_id, actor=row.actor)
            )
            posted += 1
        await LinkedTicket.filter(id=ticket.id, note_seq__lt=row.seq).update(note_seq=row.seq)
        ticket.note_seq = row.seq
    return posted


async def import_notes(*, ticket: LinkedTicket, notes: Sequence[RemoteNote]) -> int:
    """Make the ticket's new comments notes on the incident; how many were imported."""
    for _ in range(3):
        try:
            return await _import(ticket, notes)
        except Conflict:
            continue  # a concurrent import (webhook and sync at once): look again
    return 0


async def _import(ticket: LinkedTicket, notes: Sequence[RemoteNote]) -> int:
    source = source_of(ticket)
    wanted = {
        f"{ticket.incident_id}/{ticket.external_key}/{n.id}": n
        for n in notes
        if n.id and n.body.strip() and not is_ours(n.body)
    }
    if not wanted:
        return 0
    rows = await TimelineEvent.filter(
        tenant_id=ticket.tenant_id, source=source, event_id__in=list(wanted)
    ).values_list("event_id", flat=True)
    seen = {str(r) for r in rows}
    events = [
        NewEvent(
            type=EventType.NOTE_ADDED,
            data={
                "body": _clip(note.body),
                "kind": NoteKind.GENERAL.value,
                "mentions": [],
                "ticketId": str(ticket.id),
                "provider": ticket.provider.value,
                "externalKey": ticket.external_key,
                "number": ticket.number,
                "commentId": note.id,
                "author": note.author,
            },
            source=source,
            event_id=event_id,
        )
        for event_id, note in wanted.items()
        if event_id not in seen
    ]
    if not events:
        return 0
    with outbound.applying_from(str(ticket.id)):
        await incidents.append_events(
            caller=Caller.external(ticket.tenant_id, actor=ticket.provider.value),
            incident_id=str(ticket.incident_id),
            events=events,
        )
    return len(events)


def _clip(text: str) -> str:
    raw = text.encode()
    if len(raw) <= TEXT_MAX_BYTES:
        return text
    return raw[: TEXT_MAX_BYTES - 3].decode(errors="ignore") + "..."
