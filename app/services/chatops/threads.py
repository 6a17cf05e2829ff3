"""Messages in an incident channel's threads, kept on the incident's timeline.

Slack's Events API posts each message (`event_callback`, `event.type` `message`); one in a
thread of an incident's channel (`thread_ts`) becomes a `com.incidents.chat.message.v1`
event whose id is `slack:<team>:<channel>:<ts>`: Slack's retries, and a replay of the same
message, are stored once. The bot's own posts and message edits or deletions are not kept.
The author is the tenant's user whose `chatIds.slack` is theirs, else `slack:<user id>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.text import clip
from app.models import Classification, IncidentChannel, TimelineEvent, User
from app.services.access.caller import Caller, user_actor
from app.services.incidents.commands import append_events
from app.services.incidents.timeline import NewEvent

CHAT_MESSAGE = "com.incidents.chat.message.v1"
SOURCE = "slack://events"
TEXT_MAX = 10_000


async def ingest(*, tenant_id: str, team_id: str, event: Mapping[str, Any]) -> bool:
    """Keep a thread message of an incident channel; True when it was stored now."""
    if event.get("type") != "message" or event.get("subtype") or event.get("bot_id"):
        return False
    thread, ts = str(event.get("thread_ts") or ""), str(event.get("ts") or "")
    channel_id, text = str(event.get("channel") or ""), str(event.get("text") or "")
    if not thread or not ts or not channel_id or not text.strip():
        return False
    channel = await IncidentChannel.get_or_none(tenant_id=tenant_id, channel_id=channel_id)
    if channel is None:
        return False
    event_id = f"slack:{team_id}:{channel_id}:{ts}"
    if await TimelineEvent.exists(tenant_id=tenant_id, source=SOURCE, event_id=event_id):
        return False  # a retry or a replay: stored before
    slack_user = str(event.get("user") or "")
    actor = f"slack:{slack_user}" if slack_user else "slack"
    for user in await User.filter(tenant_id=tenant_id, active=True):
        if slack_user and (user.chat_ids or {}).get("slack") == slack_user:
            actor = user_actor(str(user.id))
            break
    level = Classification.CONFIDENTIAL if channel.private else Classification.INTERNAL
    await append_events(
        caller=Caller.system(tenant_id, actor=actor),
        incident_id=str(channel.incident_id),
        events=[
            NewEvent(
                type=CHAT_MESSAGE,
                data={
                    "text": clip(text, TEXT_MAX),
                    "slackUser": slack_user,
                    "channel": channel_id,
                    "ts": ts,
                    "threadTs": thread,
                },
                source=SOURCE,
                event_id=event_id,
                classification=level,
            )
        ],
    )
    return True
