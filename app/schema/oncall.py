"""On-call rotations as the API shows them, with their inputs and payloads."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from app.schema.common import Node, UserError, to_global_id
from app.schema.context import Context
from app.schema.people import Team, User
from app.services.people.oncall import LayerView, OnCall, OverrideView, RotationView

# Global ids: "rot_<32 hex>", "ovr_<32 hex>".
ROTATION_PREFIX = "rot_"
OVERRIDE_PREFIX = "ovr_"


@strawberry.type(description="One layer of a rotation: participants taking turns.")
class RotationLayer:
    shift_days: int
    shift_hours: int
    handoff_time: str = strawberry.field(description="Local wall-clock time, HH:MM.")
    time_zone: str = strawberry.field(description="IANA time zone the handoff time is in.")
    start_date: date = strawberry.field(description="The local date of the first handoff.")
    view: strawberry.Private[LayerView]

    @strawberry.field(description="In turn order; a deactivated user's turns stay empty.")  # type: ignore[untyped-decorator]
    async def participants(self, info: Info[Context, Any]) -> list[User]:
        views = await info.context.loaders.user.load_many(list(self.view.participants))
        return [User.of(v) for v in views if v is not None]

    @classmethod
    def of(cls, view: LayerView) -> RotationLayer:
        return cls(
            shift_days=view.shift_days,
            shift_hours=view.shift_hours,
            handoff_time=view.handoff_time,
            time_zone=view.time_zone,
            start_date=view.start_date,
            view=view,
        )


@strawberry.type
class RotationOverride:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    view: strawberry.Private[OverrideView]

    @strawberry.field
    async def user(self, info: Info[Context, Any]) -> User | None:
        found = await info.context.loaders.user.load(self.view.user_id)
        return User.of(found) if found is not None else None

    @classmethod
    def of(cls, view: OverrideView) -> RotationOverride:
        return cls(
            id=strawberry.ID(to_global_id(OVERRIDE_PREFIX, view.id)),
            starts_at=view.starts_at,
            ends_at=view.ends_at,
            view=view,
        )


@strawberry.type(description="A team's on-call rotation. Later layers take precedence.")
class Rotation(Node):
    id: strawberry.ID
    name: str
    layers: list[RotationLayer]
    created_at: datetime
    updated_at: datetime
    view: strawberry.Private[RotationView]

    @strawberry.field
    async def team(self, info: Info[Context, Any]) -> Team | None:
        found = await info.context.loaders.team.load(self.view.team_id)
        return Team.of(found) if found is not None else None

    @strawberry.field(description="Overrides that have not ended, by start.")  # type: ignore[untyped-decorator]
    async def overrides(self, info: Info[Context, Any]) -> list[RotationOverride]:
        from app.core.clock import utcnow
        from app.services.people import oncall

        views = await oncall.overrides_of(
            tenant_id=info.context.require_principal().tenant_id,
            rotation_id=self.view.id,
            ending_after=utcnow(),
        )
        return [RotationOverride.of(v) for v in views]

    @classmethod
    def of(cls, view: RotationView) -> Rotation:
        return cls(
            id=strawberry.ID(to_global_id(ROTATION_PREFIX, view.id)),
            name=view.name,
            layers=[RotationLayer.of(layer) for layer in view.layers],
            created_at=view.created_at,
            updated_at=view.updated_at,
            view=view,
        )


@strawberry.type(description="Who holds a rotation at an instant, from when until when.")
class OnCallShift:
    since: datetime
    until: datetime = strawberry.field(description="The next handoff or override.")
    override: bool = strawberry.field(description="True when an override put them on call.")
    entry: strawberry.Private[OnCall]

    @strawberry.field
    async def user(self, info: Info[Context, Any]) -> User | None:
        found = await info.context.loaders.user.load(self.entry.user_id)
        return User.of(found) if found is not None else None

    @strawberry.field
    async def team(self, info: Info[Context, Any]) -> Team | None:
        found = await info.context.loaders.team.load(self.entry.team_id)
        return Team.of(found) if found is not None else None

    @strawberry.field
    async def rotation(self, info: Info[Context, Any]) -> Rotation | None:
        found = await info.context.loaders.rotation.load(self.entry.rotation_id)
        return Rotation.of(found) if found is not None else None

    @classmethod
    def of(cls, entry: OnCall) -> OnCallShift:
        return cls(since=entry.since, until=entry.until, override=entry.override, entry=entry)


@strawberry.input
class RotationLayerInput:
    participant_ids: list[strawberry.ID] = strawberry.field(
        description="Users in turn order (1 to 100)."
    )
    start_date: date = strawberry.field(description="The local date of the first handoff.")
    shift_days: int = 0
    shift_hours: int = strawberry.field(
        default=0, description="With shiftDays, how long a turn lasts (1 hour to 366 days)."
    )
    handoff_time: str = strawberry.field(default="09:00", description="Local time, HH:MM.")
    time_zone: str = strawberry.field(default="UTC", description="IANA time zone.")


@strawberry.input
class CreateRotationInput:
    team_id: strawberry.ID
    name: str
    layers: list[RotationLayerInput] = strawberry.field(
        description="Lowest first: a later layer, once begun, takes precedence."
    )


@strawberry.input
class UpdateRotationInput:
    id: strawberry.ID
    name: str | None = None
    layers: list[RotationLayerInput] | None = strawberry.field(
        default=None, description="Replaces every layer."
    )


@strawberry.input
class AddOverrideInput:
    rotation_id: strawberry.ID
    user_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime


@strawberry.input
class RemoveOverrideInput:
    id: strawberry.ID


@strawberry.type
class RotationPayload:
    rotation: Rotation | None
    errors: list[UserError]


@strawberry.type
class OverridePayload:
    override: RotationOverride | None
    errors: list[UserError]
