"""On-call rotations and overrides of a team, and who is on call at any instant.

The schedule arithmetic is in `rotation` (pure, unit-tested across daylight-saving changes);
this module validates and stores rotations, and answers `onCall` for many teams at once.
A deactivated participant is never on call: their turns stay empty until the rotation is
changed, which is what the schedule's owner must see.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from app.core.clock import utcnow
from app.core.ids import parse_uuid, uuid_key
from app.errors import NotFound, ValidationFailed
from app.models import Rotation, RotationOverride, Team, User
from app.services.access import audit
from app.services.people import rotation as schedule
from app.services.people.users import name_of, time_zone_of

LAYERS_MAX = 10
PARTICIPANTS_MAX = 100
OVERRIDE_MAX = timedelta(days=366)
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True, slots=True)
class LayerView:
    participants: tuple[str, ...]
    shift_days: int
    shift_hours: int
    handoff_time: str
    time_zone: str
    start_date: date

    def schedule(self) -> schedule.Layer:
        hours, minutes = map(int, self.handoff_time.split(":"))
        return schedule.Layer(
            participants=self.participants,
            shift=timedelta(days=self.shift_days, hours=self.shift_hours),
            handoff=time(hours, minutes),
            time_zone=self.time_zone,
            start=self.start_date,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "participants": list(self.participants),
            "shiftDays": self.shift_days,
            "shiftHours": self.shift_hours,
            "handoffTime": self.handoff_time,
            "timeZone": self.time_zone,
            "startDate": self.start_date.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LayerView:
        return cls(
            participants=tuple(raw["participants"]),
            shift_days=int(raw["shiftDays"]),
            shift_hours=int(raw["shiftHours"]),
            handoff_time=str(raw["handoffTime"]),
            time_zone=str(raw["timeZone"]),
            start_date=date.fromisoformat(raw["startDate"]),
        )


@dataclass(frozen=True, slots=True)
class RotationView:
    id: str
    team_id: str
    name: str
    layers: tuple[LayerView, ...]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Rotation) -> RotationView:
        return cls(
            id=str(row.id),
            team_id=str(row.team_id),
            name=row.name,
            layers=tuple(LayerView.from_json(raw) for raw in row.layers),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True, slots=True)
class OverrideView:
    id: str
    rotation_id: str
    user_id: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, row: RotationOverride) -> OverrideView:
        return cls(
            id=str(row.id),
            rotation_id=str(row.rotation_id),
            user_id=str(row.user_id),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            created_at=row.created_at,
        )


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who holds one rotation at an instant, and from when until when."""

    team_id: str
    rotation_id: str
    user_id: str
    since: datetime
    until: datetime
    override: bool


# --- validation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LayerInput:
    participant_ids: Sequence[str]
    start_date: date
    shift_days: int = 0
    shift_hours: int = 0
    handoff_time: str = "09:00"
    time_zone: str = "UTC"


async def _layers_of(tenant_id: str, given: Sequence[LayerInput]) -> tuple[LayerView, ...]:
    if not 1 <= len(given) <= LAYERS_MAX:
        raise ValidationFailed(f"a rotation has 1 to {LAYERS_MAX} layers", field="layers")
    layers = []
    wanted: set[str] = set()
    for n, layer in enumerate(given):
        at = f"layers[{n}]"
        if not 1 <= len(layer.participant_ids) <= PARTICIPANTS_MAX:
            raise ValidationFailed(
                f"a layer has 1 to {PARTICIPANTS_MAX} participants", field=f"{at}.participantIds"
            )
        shift = timedelta(days=layer.shift_days, hours=layer.shift_hours)
        if (
            layer.shift_days < 0
            or layer.shift_hours < 0
            or not (schedule.MIN_SHIFT <= shift <= schedule.MAX_SHIFT)
        ):
            raise ValidationFailed(
                "a shift lasts from 1 hour to 366 days (shiftDays, shiftHours)",
                field=f"{at}.shiftDays",
            )
        if not _HHMM.match(layer.handoff_time):
            raise ValidationFailed(
                "handoffTime is a local time HH:MM, e.g. 09:00", field=f"{at}.handoffTime"
            )
        try:
            zone = time_zone_of(layer.time_zone)
        except ValidationFailed as error:
            raise ValidationFailed(error.message, field=f"{at}.timeZone") from None
        participants = tuple(str(parse_uuid(p) or p) for p in layer.participant_ids)
        wanted.update(participants)
        layers.append(
            LayerView(
                participants=participants,
                shift_days=layer.shift_days,
                shift_hours=layer.shift_hours,
                handoff_time=layer.handoff_time,
                time_zone=zone,
                start_date=layer.start_date,
            )
        )
    await _require_active_users(tenant_id, wanted, field="layers.participantIds")
    return tuple(layers)


async def _require_active_users(tenant_id: str, user_ids: set[str], *, field: str) -> None:
    keys = [k for k in (parse_uuid(u) for u in user_ids) if k is not None]
    rows = await User.filter(tenant_id=tenant_id, id__in=keys).values("id", "handle", "active")
    found = {str(r["id"]): r for r in rows}
    missing = sorted(u for u in user_ids if str(parse_uuid(u)) not in found)
    if missing:
        raise NotFound(f"no user with id {missing[0]!r}", field=field)
    inactive = sorted(r["handle"] for r in rows if not r["active"])
    if inactive:
        raise ValidationFailed(
            f"deactivated users cannot be on call: {', '.join(inactive)}", field=field
        )


# --- commands -------------------------------------------------------------------------------


async def create_rotation(
    *, tenant_id: str, team_id: str, name: str, layers: Sequence[LayerInput]
) -> RotationView:
    clean_name = name_of(name)
    team = await Team.get_or_none(tenant_id=tenant_id, id=uuid_key(team_id, noun="team"))
    if team is None:
        raise NotFound(f"no team with id {team_id!r}", field="teamId")
    clean = await _layers_of(tenant_id, layers)
    now = utcnow()
    async with in_transaction():
        row = await Rotation.create(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            team_id=team.id,
            name=clean_name,
            layers=[layer.to_json() for layer in clean],
            created_at=now,
            updated_at=now,
        )
        await audit.record(
            tenant_id=tenant_id,
            action="rotation.create",
            target=str(row.id),
            changes={"team": str(team.id), "name": clean_name, "layers": row.layers},
        )
    return RotationView.of(row)


async def update_rotation(
    *,
    tenant_id: str,
    rotation_id: str,
    name: str | None = None,
    layers: Sequence[LayerInput] | None = None,
) -> RotationView:
    row = await _rotation(tenant_id, rotation_id)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name_of(name)
    if layers is not None:
        changes["layers"] = [layer.to_json() for layer in await _layers_of(tenant_id, layers)]
    diff = {
        k: {"from": getattr(row, k), "to": v} for k, v in changes.items() if getattr(row, k) != v
    }
    if not diff:
        return RotationView.of(row)
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    async with in_transaction():
        await row.save(update_fields=[*changes, "updated_at"])
        await audit.record(
            tenant_id=tenant_id, action="rotation.update", target=str(row.id), changes=diff
        )
    return RotationView.of(row)


async def add_override(
    *, tenant_id: str, rotation_id: str, user_id: str, starts_at: datetime, ends_at: datetime
) -> OverrideView:
    row = await _rotation(tenant_id, rotation_id, field="rotationId")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValidationFailed("startsAt and endsAt need a UTC offset", field="startsAt")
    if not starts_at < ends_at <= starts_at + OVERRIDE_MAX:
        raise ValidationFailed("an override ends after it starts, within 366 days", field="endsAt")
    await _require_active_users(tenant_id, {user_id}, field="userId")
    async with in_transaction():
        override = await RotationOverride.create(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            rotation_id=row.id,
            user_id=parse_uuid(user_id),
            starts_at=starts_at,
            ends_at=ends_at,
            created_at=utcnow(),
        )
        await audit.record(
            tenant_id=tenant_id,
            action="rotation.override_add",
            target=str(row.id),
            changes={
                "override": str(override.id),
                "user": user_id,
                "startsAt": starts_at.isoformat(),
                "endsAt": ends_at.isoformat(),
            },
        )
    return OverrideView.of(override)


async def remove_override(*, tenant_id: str, override_id: str) -> OverrideView:
    key = parse_uuid(override_id)
    row = await RotationOverride.get_or_none(tenant_id=tenant_id, id=key) if key else None
    if row is None:
        raise NotFound(f"no override with id {override_id!r}", field="id")
    async with in_transaction():
        await row.delete()
        await audit.record(
            tenant_id=tenant_id,
            action="rotation.override_remove",
            target=str(row.rotation_id),
            changes={"override": str(row.id), "user": str(row.user_id)},
        )
    return OverrideView.of(row)


async def _rotation(tenant_id: str, rotation_id: str, *, field: str = "id") -> Rotation:
    key = parse_uuid(rotation_id)
    row = await Rotation.get_or_none(tenant_id=tenant_id, id=key) if key else None
    if row is None:
        raise NotFound(f"no rotation with id {rotation_id!r}", field=field)
    return row


# --- reads ----------------------------------------------------------------------------------


async def rotations_of(*, tenant_id: str, team_ids: Sequence[str]) -> dict[str, list[RotationView]]:
    keys = [k for k in (parse_uuid(t) for t in team_ids) if k is not None]
    rows = await Rotation.filter(tenant_id=tenant_id, team_id__in=keys).order_by("name", "id")
    found: dict[str, list[RotationView]] = {}
    for row in rows:
        found.setdefault(str(row.team_id), []).append(RotationView.of(row))
    return found


async def get_rotations(*, tenant_id: str, rotation_ids: Sequence[str]) -> dict[str, RotationView]:
    keys = [k for k in (parse_uuid(r) for r in rotation_ids) if k is not None]
    rows = await Rotation.filter(tenant_id=tenant_id, id__in=keys) if keys else []
    return {str(r.id): RotationView.of(r) for r in rows}


async def overrides_of(
    *, tenant_id: str, rotation_id: str, ending_after: datetime
) -> list[OverrideView]:
    rows = await RotationOverride.filter(
        tenant_id=tenant_id, rotation_id=rotation_id, ends_at__gt=ending_after
    ).order_by("starts_at", "created_at")
    return [OverrideView.of(r) for r in rows]


async def on_call(
    *, tenant_id: str, at: datetime, team_ids: Sequence[str] | None = None
) -> list[OnCall]:
    """Who holds each rotation of these teams (every team when None) at `at`: two queries."""
    query = Rotation.filter(tenant_id=tenant_id)
    if team_ids is not None:
        query = query.filter(team_id__in=[k for k in map(parse_uuid, team_ids) if k is not None])
    rotations = [RotationView.of(r) for r in await query.order_by("name", "id")]
    if not rotations:
        return []
    # Overrides covering `at`, and those beginning within the longest possible shift after
    # it (they may end the current shift early).
    overrides = await RotationOverride.filter(
        rotation_id__in=[r.id for r in rotations],
        ends_at__gt=at,
        starts_at__lte=at + schedule.MAX_SHIFT,
    ).order_by("created_at", "id")
    by_rotation: dict[str, list[schedule.Override]] = {}
    for o in overrides:
        by_rotation.setdefault(str(o.rotation_id), []).append(
            schedule.Override(str(o.user_id), o.starts_at, o.ends_at)
        )
    shifts = []
    for rotation in rotations:
        shift = schedule.on_call(
            [layer.schedule() for layer in rotation.layers], by_rotation.get(rotation.id, []), at
        )
        if shift is not None:
            shifts.append((rotation, shift))
    active = set(
        str(u)
        for u in await User.filter(
            tenant_id=tenant_id, id__in=list({s.user for _, s in shifts}), active=True
        ).values_list("id", flat=True)
    )
    return [
        OnCall(rotation.team_id, rotation.id, s.user, s.since, s.until, s.override)
        for rotation, s in shifts
        if s.user in active
    ]
