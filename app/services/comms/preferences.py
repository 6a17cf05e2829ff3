"""How each person wants to be notified: which channels, which events muted, and quiet
hours in their own time zone (a notification about a P1 ignores them; any other waits for
the quiet hours to end, it is not dropped)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.clock import utcnow
from app.errors import ValidationFailed
from app.models import CommunicationChannel, NotificationPreference, RuleEvent

CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
PERSONAL = (CommunicationChannel.EMAIL, CommunicationChannel.SLACK)


@dataclass(frozen=True, slots=True)
class PreferenceView:
    channels: tuple[CommunicationChannel, ...] | None
    muted_events: tuple[RuleEvent, ...]
    quiet_start: str | None
    quiet_end: str | None

    @classmethod
    def of(cls, row: NotificationPreference | None) -> PreferenceView:
        if row is None:
            return cls(None, (), None, None)
        return cls(
            channels=None
            if row.channels is None
            else tuple(CommunicationChannel(c) for c in row.channels),
            muted_events=tuple(RuleEvent(e) for e in row.muted_events),
            quiet_start=row.quiet_start,
            quiet_end=row.quiet_end,
        )

    def accepts(self, channel: CommunicationChannel, event: RuleEvent) -> bool:
        if event in self.muted_events:
            return False
        return self.channels is None or channel in self.channels


def _clock(value: str, *, field: str) -> time:
    match = CLOCK.match(value.strip())
    if match is None:
        raise ValidationFailed(f"{field} must read HH:MM (24-hour)", field=field)
    return time(int(match[1]), int(match[2]))


def quiet_until(now: datetime, start: str | None, end: str | None, zone: str) -> datetime | None:
    """When the quiet hours that hold `now` end (UTC), or None outside them. The hours are
    wall-clock times in `zone` and may wrap past midnight (22:00 to 07:00)."""
    if not start or not end or start == end:
        return None
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    begin, finish = _clock(start, field="quietStart"), _clock(end, field="quietEnd")
    at = local.time().replace(second=0, microsecond=0)
    if begin < finish:
        inside = begin <= at < finish
        day = local.date()
    else:  # wraps past midnight
        inside = at >= begin or at < finish
        day = local.date() + timedelta(days=1) if at >= begin else local.date()
    if not inside:
        return None
    ends = datetime.combine(day, finish, tzinfo=tz)
    return ends.astimezone(now.tzinfo) if now.tzinfo else ends


async def preferences_of(*, user_ids: Sequence[str]) -> dict[str, PreferenceView]:
    keys = [uuid.UUID(u) for u in user_ids]
    rows = await NotificationPreference.filter(user_id__in=keys) if keys else []
    found = {str(r.user_id): PreferenceView.of(r) for r in rows}
    return {u: found.get(u, PreferenceView.of(None)) for u in user_ids}


async def set_preferences(
    *, tenant_id: str, user_id: str, changes: Mapping[str, Any]
) -> PreferenceView:
    """Change what `changes` names (channels, muted_events, quiet_start, quiet_end)."""
    values: dict[str, Any] = {}
    if "channels" in changes:
        channels = changes["channels"]
        if channels is not None:
            chosen = [CommunicationChannel(c) for c in dict.fromkeys(channels)]
            for channel in chosen:
                if channel not in PERSONAL:
                    raise ValidationFailed(
                        "a person is notified by EMAIL or SLACK", field="channels"
                    )
            channels = [c.value for c in chosen]
        values["channels"] = channels
    if "muted_events" in changes:
        values["muted_events"] = [
            RuleEvent(e).value for e in dict.fromkeys(changes["muted_events"] or ())
        ]
    for key, field in (("quiet_start", "quietStart"), ("quiet_end", "quietEnd")):
        if key in changes:
            value = changes[key]
            values[key] = None if value is None else _clock(value, field=field).strftime("%H:%M")
    row = await NotificationPreference.get_or_none(user_id=uuid.UUID(user_id))
    merged = {
        "quiet_start": row.quiet_start if row else None,
        "quiet_end": row.quiet_end if row else None,
        **{k: v for k, v in values.items() if k in ("quiet_start", "quiet_end")},
    }
    if (merged["quiet_start"] is None) != (merged["quiet_end"] is None):
        raise ValidationFailed("quiet hours need both quietStart and quietEnd", field="quietEnd")
    now = utcnow()
    if row is None:
        row = await NotificationPreference.create(
            user_id=uuid.UUID(user_id), tenant_id=tenant_id, updated_at=now, **values
        )
    else:
        await NotificationPreference.filter(user_id=row.user_id).update(updated_at=now, **values)
        row = await NotificationPreference.get(user_id=row.user_id)
    return PreferenceView.of(row)
