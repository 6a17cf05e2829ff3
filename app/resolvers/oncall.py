"""On-call: rotations and overrides, managed by ADMIN; who is on call, read by every
person's role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError, ValidationFailed
from app.resolvers.people import team_key, user_key
from app.schema.authorization import authorize
from app.schema.common import UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.oncall import (
    OVERRIDE_PREFIX,
    ROTATION_PREFIX,
    AddOverrideInput,
    CreateRotationInput,
    OnCallShift,
    OverridePayload,
    RemoveOverrideInput,
    Rotation,
    RotationLayerInput,
    RotationOverride,
    RotationPayload,
    UpdateRotationInput,
)
from app.services.access.permissions import Action
from app.services.people import oncall
from app.services.people.oncall import LayerInput, OverrideView, RotationView

TEAM_IDS_MAX = 100


def rotation_key(value: str, *, field: str = "id") -> str:
    key = from_global_id(ROTATION_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="rotation", field=field))


def _layers(given: list[RotationLayerInput]) -> list[LayerInput]:
    return [
        LayerInput(
            participant_ids=[
                user_key(p, field=f"layers[{n}].participantIds") for p in layer.participant_ids
            ],
            start_date=layer.start_date,
            shift_days=layer.shift_days,
            shift_hours=layer.shift_hours,
            handoff_time=layer.handoff_time,
            time_zone=layer.time_zone,
        )
        for n, layer in enumerate(given)
    ]


def _instant(info: Info[Context, Any], at: datetime | None) -> datetime:
    if at is None:
        return info.context.loaders.now
    if at.tzinfo is None:
        raise graphql_error(ValidationFailed("`at` needs a UTC offset", field="at"))
    return at


async def who_is_on_call(
    info: Info[Context, Any],
    team_ids: list[strawberry.ID] | None = None,
    at: datetime | None = None,
) -> list[OnCallShift]:
    principal = authorize(info, Action.READ_PEOPLE)
    try:
        if team_ids is not None and len(team_ids) > TEAM_IDS_MAX:
            raise ValidationFailed(f"at most {TEAM_IDS_MAX} teamIds", field="teamIds")
        keys = None if team_ids is None else [team_key(t, field="teamIds") for t in team_ids]
        entries = await oncall.on_call(
            tenant_id=principal.tenant_id, at=_instant(info, at), team_ids=keys
        )
    except DomainError as error:
        raise graphql_error(error) from None
    return [OnCallShift.of(e) for e in entries]


async def _rotation_command(
    info: Info[Context, Any], command: Callable[[str], Awaitable[RotationView]]
) -> RotationPayload:
    principal = authorize(info, Action.MANAGE_PEOPLE)
    try:
        view = await command(principal.tenant_id)
    except DomainError as error:
        return RotationPayload(rotation=None, errors=[UserError.of(error)])
    return RotationPayload(rotation=Rotation.of(view), errors=[])


async def _override_command(
    info: Info[Context, Any], command: Callable[[str], Awaitable[OverrideView]]
) -> OverridePayload:
    principal = authorize(info, Action.MANAGE_PEOPLE)
    try:
        view = await command(principal.tenant_id)
    except DomainError as error:
        return OverridePayload(override=None, errors=[UserError.of(error)])
    return OverridePayload(override=RotationOverride.of(view), errors=[])


async def create_rotation(info: Info[Context, Any], input: CreateRotationInput) -> RotationPayload:
    return await _rotation_command(
        info,
        lambda tenant_id: oncall.create_rotation(
            tenant_id=tenant_id,
            team_id=team_key(input.team_id, field="teamId"),
            name=input.name,
            layers=_layers(input.layers),
        ),
    )


async def update_rotation(info: Info[Context, Any], input: UpdateRotationInput) -> RotationPayload:
    return await _rotation_command(
        info,
        lambda tenant_id: oncall.update_rotation(
            tenant_id=tenant_id,
            rotation_id=rotation_key(input.id),
            name=input.name,
            layers=_layers(input.layers) if input.layers is not None else None,
        ),
    )


async def add_override(info: Info[Context, Any], input: AddOverrideInput) -> OverridePayload:
    return await _override_command(
        info,
        lambda tenant_id: oncall.add_override(
            tenant_id=tenant_id,
            rotation_id=rotation_key(input.rotation_id, field="rotationId"),
            user_id=user_key(input.user_id, field="userId"),
            starts_at=input.starts_at,
            ends_at=input.ends_at,
        ),
    )


async def remove_override(info: Info[Context, Any], input: RemoveOverrideInput) -> OverridePayload:
    def key() -> str:
        found = from_global_id(OVERRIDE_PREFIX, input.id)
        return found if found is not None else str(uuid_key(input.id, noun="override"))

    return await _override_command(
        info, lambda tenant_id: oncall.remove_override(tenant_id=tenant_id, override_id=key())
    )
