"""The record of every message about an incident: phone calls, meetings, e-mails received
and sent, each with a short ref (REF-YYYYMMDD-XXXX) that recipients quote back.

Logging one writes the communication and a `com.incidents.comms.logged.v1` event (its ref,
channel, direction and audience; not its text) in the incident's own transaction. A
communication is classified (INTERNAL by default, never above the caller's clearance); only
PUBLIC ones may be addressed to END_USERS. Its message reads `[REDACTED]` to a caller
below its classification or its incident's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from app.core.clock import utcnow
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.models import (
    Audience,
    Classification,
    Communication,
    CommunicationChannel,
    CommunicationDirection,
    DeliveryStatus,
)
from app.services.access.caller import Caller
from app.services.access.classification import effective, reaches
from app.services.comms import refs
from app.services.incidents import commands as incident_commands
from app.services.incidents import validation
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import IncidentSnapshot, get_visible_incident
from app.services.incidents.timeline import NewEvent

COMMS_LOGGED = "com.incidents.comms.logged.v1"
GLOBAL_PREFIX = "com_"
RECIPIENT_MAX = 512
REF_TRIES = 8
# How far ahead of the server's clock a logged message may say it happened.
CLOCK_SKEW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class CommunicationView:
    id: str
    tenant_id: str
    incident_id: str
    short_ref: str
    channel: CommunicationChannel
    direction: CommunicationDirection
    audience: Audience | None
    recipient: str | None
    message: str
    status: DeliveryStatus
    classification: Classification
    external_id: str | None
    error: str | None
    sent_at: datetime | None
    created_by: str | None
    created_at: datetime
    subject: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None

    @classmethod
    def of(cls, row: Communication) -> CommunicationView:
        return cls(
            id=str(row.id),
            tenant_id=row.tenant_id,
            incident_id=str(row.incident_id),
            short_ref=row.short_ref,
            channel=row.channel,
            direction=row.direction,
            audience=row.audience,
            recipient=row.recipient,
            message=row.message,
            status=row.status,
            classification=row.classification,
            external_id=row.external_id,
            error=row.error,
            sent_at=row.sent_at,
            created_by=row.created_by,
            created_at=row.created_at,
            subject=row.subject,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
        )


@dataclass(frozen=True, slots=True)
class CommunicationPage:
    items: list[tuple[str, CommunicationView]]
    has_next_page: bool
    has_previous_page: bool
    total: int


def readable(clearance: Classification, view: CommunicationView, incident: Classification) -> bool:
    """Whether the caller may read the message: its classification and its incident's."""
    return reaches(clearance, effective(view.classification, incident))


async def log_communication(
    *,
    caller: Caller,
    incident_id: str,
    channel: CommunicationChannel,
    direction: CommunicationDirection,
    message: str,
    audience: Audience | None = None,
    recipient: str | None = None,
    occurred_at: datetime | None = None,
    classification: Classification = Classification.INTERNAL,
) -> tuple[CommunicationView, CommandResult]:
    """Record a message that was exchanged (a call, a meeting, an e-mail received or sent
    outside incidentgraph): SENT, at `occurred_at` (now by default)."""
    text = validation.text(message, field="message", required=True)
    assert text is not None
    to = validation.name(recipient, field="recipient")
    if to is not None and len(to) > RECIPIENT_MAX:
        raise ValidationFailed(
            f"recipient must be at most {RECIPIENT_MAX} characters", field="recipient"
        )
    if not reaches(caller.clearance, classification):
        raise Forbidden(
            f"your clearance ({caller.clearance.value}) does not reach {classification.value}",
            field="classification",
        )
    if audience is Audience.END_USERS and classification is not Classification.PUBLIC:
        raise ValidationFailed(
            "only PUBLIC content may go to END_USERS: classify it PUBLIC", field="classification"
        )
    now = utcnow()
    if occurred_at is not None and occurred_at > now + CLOCK_SKEW:
        raise ValidationFailed("occurredAt is in the future", field="occurredAt")
    await get_visible_incident(caller=caller, incident_id=incident_id)
    for _ in range(REF_TRIES):
        short_ref = refs.new_ref(now)
        key = uuid.uuid4()

        async def write(
            incident: IncidentSnapshot, ref: str = short_ref, key: uuid.UUID = key
        ) -> None:
            await Communication.create(
                id=key,
                tenant_id=caller.tenant_id,
                incident_id=uuid.UUID(incident.id),
                short_ref=ref,
                channel=channel,
                direction=direction,
                audience=audience,
                recipient=to,
                message=text,
                status=DeliveryStatus.SENT,
                classification=classification,
                sent_at=occurred_at or now,
                created_by=caller.actor,
                created_at=now,
            )

        event = NewEvent(
            type=COMMS_LOGGED,
            data={
                "shortRef": short_ref,
                "channel": channel.value,
                "direction": direction.value,
                "audience": audience.value if audience else None,
                "classification": classification.value,
            },
        )
        try:
            result = await incident_commands.append_events(
                caller=caller, incident_id=incident_id, events=[event], also=write
            )
        except Conflict as error:
            if isinstance(error.__cause__, IntegrityError):
                continue  # the ref was drawn already today: draw another
            raise
        row = await Communication.get(id=key)
        return CommunicationView.of(row), result
    raise Conflict("no free short ref could be drawn; retry", field="incidentId")


async def communication_by_ref(*, caller: Caller, short_ref: str) -> CommunicationView | None:
    """The communication a ref names, when its incident exists for the caller; null for an
    unknown ref, VALIDATION for text that is not a ref."""
    ref = refs.normalise(short_ref)
    if ref is None:
        raise ValidationFailed("a short ref reads REF-YYYYMMDD-XXXX", field="shortRef")
    row = await Communication.get_or_none(tenant_id=caller.tenant_id, short_ref=ref)
    if row is None:
        return None
    try:
        await get_visible_incident(caller=caller, incident_id=str(row.incident_id))
    except NotFound:  # an incident the caller may not know of: no such ref either
        return None
    return CommunicationView.of(row)


async def communications_of(
    *,
    caller: Caller,
    incident_id: str,
    channel: CommunicationChannel | None = None,
    first: int | None = None,
    after: str | None = None,
) -> CommunicationPage:
    """The incident's communications, oldest first, `first` at a time."""
    incident = await get_visible_incident(caller=caller, incident_id=incident_id, field="id")
    size = page_size(first)
    query = Communication.filter(tenant_id=caller.tenant_id, incident_id=uuid.UUID(incident.id))
    if channel is not None:
        query = query.filter(channel=channel)
    total = await query.count()
    if after is not None:
        position = decode_key_cursor("communication", after)
        at, _, last = position.partition("|")
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise ValidationFailed("malformed cursor", field="after") from None
        query = query.filter(Q(created_at__gt=when) | Q(created_at=when, id__gt=last))
    rows = await query.order_by("created_at", "id").limit(size + 1)
    items = [
        (
            encode_key_cursor("communication", f"{r.created_at.isoformat()}|{r.id}"),
            CommunicationView.of(r),
        )
        for r in rows[:size]
    ]
    return CommunicationPage(items, len(rows) > size, after is not None, total)


def _cursor(row: Communication) -> str:
    return encode_key_cursor("communication", f"{row.created_at.isoformat()}|{row.id}")


async def get_communications(*, tenant_id: str, ids: Sequence[str]) -> dict[str, CommunicationView]:
    keys = [uuid.UUID(i) for i in ids]
    rows = await Communication.filter(tenant_id=tenant_id, id__in=keys) if keys else []
    return {str(r.id): CommunicationView.of(r) for r in rows}
