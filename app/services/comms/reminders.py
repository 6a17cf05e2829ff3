"""Reminders of overdue action items: an action item open or in progress past its due time
gets one `com.incidents.review.action_item_overdue.v1` event on its incident's timeline and
one message to its owner (e-mail, and Slack where they have an id and the tenant a bot
token), written together; a new due time is reminded of anew.

Each server process looks every poll; an item is claimed by setting its `reminded_at` where
it is still null, so two processes never remind of it twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from app.config import Settings
from app.core.clock import utcnow
from app.core.tasks import cancel_and_wait
from app.models import (
    ActionItem,
    ActionItemStatus,
    Classification,
    Communication,
    CommunicationChannel,
    CommunicationDirection,
    DeliveryStatus,
    NotificationSettings,
    User,
)
from app.services.access.caller import Caller
from app.services.access.classification import highest
from app.services.comms import notify
from app.services.comms.reviews import ACTION_ITEM_PREFIX
from app.services.incidents import commands as incident_commands
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import NewEvent

log = logging.getLogger(__name__)

ACTION_ITEM_OVERDUE = "com.incidents.review.action_item_overdue.v1"
REMINDER_ACTOR = "reminders"
BATCH = 50
OPEN = (ActionItemStatus.OPEN, ActionItemStatus.IN_PROGRESS)


async def remind_due(now: datetime | None = None) -> int:
    """Remind of every overdue action item not reminded yet; returns how many."""
    now = now or utcnow()
    due = (
        await ActionItem.filter(reminded_at=None, due_at__lt=now, status__in=list(OPEN))
        .order_by("due_at")
        .limit(BATCH)
    )
    reminded = 0
    for item in due:
        claimed = await ActionItem.filter(id=item.id, reminded_at=None).update(reminded_at=now)
        if not claimed:
            continue  # another process has it
        try:
            await _remind(item, now)
            reminded += 1
        except Exception:
            # Given back, to be tried on the next look.
            await ActionItem.filter(id=item.id).update(reminded_at=None)
            raise
    return reminded


async def _remind(item: ActionItem, now: datetime) -> None:
    owner = (
        await User.get_or_none(id=item.owner_id, tenant_id=item.tenant_id, active=True)
        if item.owner_id
        else None
    )
    where = await NotificationSettings.get_or_none(tenant_id=item.tenant_id)
    written: list[Communication] = []

    async def write(incident: IncidentSnapshot) -> None:
        if owner is None:
            return
        recipients = [(CommunicationChannel.EMAIL, owner.email)]
        slack = (owner.chat_ids or {}).get("slack")
        if slack and where is not None and where.slack_bot_token:
            recipients.append((CommunicationChannel.SLACK, slack))
        due = f"{item.due_at:%Y-%m-%d %H:%M} UTC" if item.due_at else "now"
        for channel, recipient in recipients:
            written.append(
                Communication(
                    id=uuid.uuid4(),
                    tenant_id=item.tenant_id,
                    incident_id=item.incident_id,
                    short_ref="",
                    channel=channel,
                    direction=CommunicationDirection.OUTBOUND,
                    recipient=recipient,
                    subject=f"Action item overdue on INC-{incident.number}"[:255],
                    message=f"{item.title}\nDue {due}; it is {item.status.value}.",
                    status=DeliveryStatus.PENDING,
                    classification=highest(Classification.INTERNAL, incident.classification),
                    next_attempt_at=now,
                    created_by="reminder",
                    created_at=now,
                )
            )
        await notify.draw_refs(item.tenant_id, written, now)
        await Communication.bulk_create(written)

    event = NewEvent(
        type=ACTION_ITEM_OVERDUE,
        data={
            "actionItem": ACTION_ITEM_PREFIX + item.id.hex,
            "dueAt": item.due_at.isoformat() if item.due_at else None,
            "owner": f"user:{item.owner_id}" if item.owner_id else None,
        },
    )
    await incident_commands.append_events(
        caller=Caller.system(item.tenant_id, actor=REMINDER_ACTOR),
        incident_id=str(item.incident_id),
        events=[event],
        also=write,
    )
    if written:
        notify.queued.send(None)


class Reminders:
    """Looks for overdue action items every poll: one per process."""

    def __init__(self, settings: Settings) -> None:
        self._poll = max(settings.notify_poll_seconds, 1.0)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name="action-item-reminders")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                while await remind_due() >= BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reminding of overdue action items failed; retrying")
