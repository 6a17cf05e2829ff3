"""A Slack channel per incident: made when the incident is declared, kept up with it.

The writer hook writes the incident's `IncidentChannel` row when it is declared (for a
tenant with `slackIncidentChannels` and a bot token) and marks it owed a sync with every
change, in the change's own transaction. The channel worker (every process; rows claimed
for a lease, `SKIP LOCKED` on PostgreSQL) makes the Slack side match through the Web API:
`conversations.create` (`inc-<n>-sev<level>-<title>`; private and `-restricted` without the
title for CONFIDENTIAL and RESTRICTED incidents), `conversations.setTopic` (status,
priority, commander), `conversations.invite` (the assigned user, the commander and whoever
is on call in the assigned team, by their `chatIds.slack`), and `chat.postMessage` for the
key events not yet posted (declared, state changes, assignments, escalations, notes), as
the channel's readers may read them. A failure is retried with backoff; nothing is lost,
since the row remembers the last event posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.backoff import backoff
from app.core.clock import utcnow
from app.core.signal import Signal
from app.core.tasks import cancel_and_wait
from app.models import (
    Classification,
    Incident,
    IncidentChannel,
    NotificationSettings,
    TimelineEvent,
    User,
)
from app.services import writer
from app.services.access.classification import highest, reaches
from app.services.comms import destinations
from app.services.comms.adapters import Destinations
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.itsm.egress import GuardedTransport
from app.services.people.oncall import on_call

log = logging.getLogger(__name__)

NAME_MAX = 80
BATCH = 20
_CACHE_SECONDS = 10.0
_PRIVATE = (Classification.CONFIDENTIAL, Classification.RESTRICTED)
KEY_EVENTS = {
    "com.incidents.declared.v1": "declared",
    "com.incidents.state_change.v1": "status",
    "com.incidents.assigned.v1": "assigned",
    "com.incidents.escalated.v1": "escalated",
    "com.incidents.note_added.v1": "note",
    "com.incidents.resolved.v1": "resolved",
}

# Rung after a change owes a channel a sync: this process's worker starts at once.
owed: Signal[str] = Signal("chatops.channel_owed")
_enabled: dict[str, tuple[float, bool]] = {}


def channel_name(snapshot: IncidentSnapshot) -> tuple[str, bool]:
    """`inc-<n>-sev<level>-<slug>`, or `...-restricted` (private, no title) when classified."""
    level = snapshot.severity.value.removeprefix("SEV")
    base = f"inc-{snapshot.number}-sev{level}"
    if snapshot.classification in _PRIVATE:
        return f"{base}-restricted", True
    slug = re.sub(r"[^a-z0-9]+", "-", snapshot.title.lower()).strip("-")
    name = f"{base}-{slug}" if slug else base
    return name[:NAME_MAX].rstrip("-"), False


async def _channels_on(tenant_id: str) -> bool:
    cached = _enabled.get(tenant_id)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _CACHE_SECONDS:
        return cached[1]
    row = await NotificationSettings.get_or_none(tenant_id=tenant_id).only(
        "tenant_id", "slack_incident_channels", "slack_bot_token"
    )
    on = bool(row and row.slack_incident_channels and row.slack_bot_token)
    _enabled[tenant_id] = (now, on)
    return on


async def on_incident_change(change: writer.Change) -> Callable[[], None] | None:
    after = change.after
    key = uuid.UUID(after.id)
    now = utcnow()
    if change.before is None:
        if not await _channels_on(after.tenant_id):
            return None
        name, private = channel_name(after)
        await IncidentChannel.create(
            incident_id=key,
            tenant_id=after.tenant_id,
            name=name,
            private=private,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    elif not await IncidentChannel.filter(incident_id=key).update(
        dirty=True,
        generation=F("generation") + 1,
        next_attempt_at=now,
        attempts=0,
        updated_at=now,
    ):
        return None
    return lambda: owed.send(after.id)


class SlackError(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def _call(
    client: httpx.AsyncClient, to: Destinations, method: str, body: dict[str, Any]
) -> dict[str, Any]:
    try:
        response = await client.post(
            f"{to.slack_api_url.rstrip('/')}/{method}",
            json=body,
            headers={"Authorization": f"Bearer {to.slack_bot_token}"},
        )
    except httpx.HTTPError as error:
        raise SlackError(f"{method}: unreachable ({error or type(error).__name__})") from None
    if response.status_code == 429:
        raise SlackError(
            f"{method}: rate limited", retry_after=float(response.headers.get("Retry-After", "1"))
        )
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code >= 300 or not isinstance(answer, dict):
        raise SlackError(f"{method}: HTTP {response.status_code}")
    return answer


def topic_of(snapshot: IncidentSnapshot) -> str:
    commander = snapshot.commander or "none"
    return (
        f"INC-{snapshot.number} | {snapshot.status.value} | {snapshot.priority.value} | "
        f"commander: {commander}"
    )[:250]


async def _wanted(snapshot: IncidentSnapshot) -> list[str]:
    """The Slack ids of the assigned user, the commander and the assigned team's on-call."""
    ids: set[str] = set()
    if snapshot.assigned_user_id:
        ids.add(snapshot.assigned_user_id)
    if snapshot.assigned_team_id:
        for shift in await on_call(
            tenant_id=snapshot.tenant_id, at=utcnow(), team_ids=[snapshot.assigned_team_id]
        ):
            ids.add(shift.user_id)
    query = User.filter(tenant_id=snapshot.tenant_id, active=True)
    users = [u for u in await query.filter(id__in=list(ids))] if ids else []
    if snapshot.commander:
        users += await query.filter(handle=snapshot.commander.lower())
    return sorted({str(u.chat_ids.get("slack")) for u in users if u.chat_ids.get("slack")})


def _message(
    event: TimelineEvent, level: Classification, readable_at: Classification
) -> str | None:
    kind = KEY_EVENTS.get(event.type)
    if kind is None:
        return None
    if not reaches(readable_at, highest(event.classification, level)):
        return f"{kind} (details are above this channel's clearance)"
    data = event.data or {}
    if kind == "status":
        return f"status: {data.get('from')} -> {data.get('to')}"
    if kind == "note":
        return f"note: {str(data.get('body', ''))[:3000]}"
    if kind == "assigned":
        return f"assigned: {data.get('assignee') or data.get('to') or 'changed'}"
    if kind == "declared":
        return f"declared: {data.get('title', '')} ({data.get('priority', '')})"
    return kind


async def sync(row: IncidentChannel, to: Destinations, client: httpx.AsyncClient) -> None:
    """Make the Slack side match the incident; save how far it got."""
    incident = await Incident.get(id=row.incident_id)
    snapshot = IncidentSnapshot.from_model(incident)
    channel = row.channel_id
    if channel is None:
        for suffix in ("", "-2", "-3", "-4", "-5"):
            name = row.name[: NAME_MAX - len(suffix)] + suffix
            answer = await _call(
                client, to, "conversations.create", {"name": name, "is_private": row.private}
            )
            if answer.get("ok"):
                channel = str(answer["channel"]["id"])
                break
            if answer.get("error") != "name_taken":
                raise SlackError(f"conversations.create: {answer.get('error')}")
        if channel is None:
            raise SlackError("conversations.create: every name was taken")
        await IncidentChannel.filter(incident_id=row.incident_id).update(channel_id=channel)
    topic = topic_of(snapshot)
    if topic != row.topic:
        answer = await _call(
            client, to, "conversations.setTopic", {"channel": channel, "topic": topic}
        )
        if not answer.get("ok"):
            raise SlackError(f"conversations.setTopic: {answer.get('error')}")
    invited = list(row.invited)
    fresh = [u for u in await _wanted(snapshot) if u not in invited]
    if fresh:
        answer = await _call(
            client, to, "conversations.invite", {"channel": channel, "users": ",".join(fresh)}
        )
        if not answer.get("ok") and answer.get("error") != "already_in_channel":
            raise SlackError(f"conversations.invite: {answer.get('error')}")
        invited += fresh
    readable_at = Classification.CONFIDENTIAL if row.private else Classification.INTERNAL
    posted = row.posted_seq
    events = (
        await TimelineEvent.filter(incident_id=row.incident_id, seq__gt=posted)
        .order_by("seq")
        .limit(100)
    )
    for event in events:
        text = _message(event, snapshot.classification, readable_at)
        if text is not None:
            answer = await _call(
                client,
                to,
                "chat.postMessage",
                {"channel": channel, "text": f"INC-{snapshot.number} {text}"},
            )
            if not answer.get("ok"):
                raise SlackError(f"chat.postMessage: {answer.get('error')}")
        posted = event.seq
        await IncidentChannel.filter(incident_id=row.incident_id).update(posted_seq=posted)
    saved = {"topic": topic, "invited": invited, "attempts": 0, "error": None}
    mine = IncidentChannel.filter(incident_id=row.incident_id)
    if len(events) < 100:
        # Done, unless a change came while this ran: then it stays owed, due now.
        done = await mine.filter(generation=row.generation).update(
            dirty=False, next_attempt_at=None, updated_at=utcnow(), **saved
        )
        if done:
            return
    await mine.update(next_attempt_at=utcnow(), updated_at=utcnow(), **saved)


class ChannelWorker:
    def __init__(self, settings: Settings, *, use_row_locks: bool) -> None:
        self._settings = settings
        self._use_row_locks = use_row_locks
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._disconnect: Callable[[], None] = lambda: None

    async def start(self) -> None:
        self._disconnect = owed.connect(lambda _: self._wakeup.set())
        self._tasks = [asyncio.create_task(self._loop(), name="chatops-channels")]

    async def stop(self) -> None:
        self._disconnect()
        await cancel_and_wait(self._tasks)

    async def _claim(self) -> list[IncidentChannel]:
        now = utcnow()
        due = IncidentChannel.filter(dirty=True, next_attempt_at__lte=now)
        if not await due.exists():
            return []
        async with in_transaction():
            query = due.order_by("next_attempt_at")
            if self._use_row_locks:
                query = query.select_for_update(skip_locked=True)
            rows = await query.limit(BATCH)
            if rows:
                await IncidentChannel.filter(incident_id__in=[r.incident_id for r in rows]).update(
                    next_attempt_at=now + timedelta(seconds=60)
                )
        return list(rows)

    async def run_due(self) -> int:
        rows = await self._claim()
        if not rows:
            return 0
        transport = GuardedTransport(allow_private=self._settings.allow_private_networks)
        async with httpx.AsyncClient(
            transport=transport, timeout=self._settings.notify_timeout_seconds
        ) as client:
            for row in rows:
                to = await destinations.destinations(
                    tenant_id=row.tenant_id, settings=self._settings
                )
                try:
                    if not to.slack_bot_token:
                        raise SlackError("no Slack bot token is configured")
                    await sync(row, to, client)
                except Exception as error:  # Slack's refusals and anything unforeseen alike
                    attempts = row.attempts + 1
                    delay = backoff(
                        attempts - 1,
                        base=self._settings.notify_retry_base_seconds,
                        cap=self._settings.notify_retry_max_seconds,
                        retry_after=getattr(error, "retry_after", None),
                    )
                    log.warning("incident channel %s: %s", row.name, error)
                    await IncidentChannel.filter(incident_id=row.incident_id).update(
                        attempts=attempts,
                        error=str(error)[:1000],
                        next_attempt_at=utcnow() + timedelta(seconds=delay),
                    )
        return len(rows)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.notify_poll_seconds)
            self._wakeup.clear()
            try:
                while await self.run_due() >= BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "incident channel sync failed; retrying on the next poll", exc_info=True
                )
