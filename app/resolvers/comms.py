"""Communications: logged by whoever adds notes, read by whoever reads incidents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.core.clock import utcnow
from app.errors import DomainError, ValidationFailed
from app.resolvers.incident import incident_key
from app.resolvers.people import user_key
from app.schema.authorization import authorize
from app.schema.common import UserError
from app.schema.comms import (
    ActionItem,
    ActionItemPayload,
    AddActionItemInput,
    Communication,
    CommunicationPayload,
    LogCommunicationInput,
    PostIncidentReview,
    ReviewIncidentInput,
    ReviewPayload,
    UpdateActionItemInput,
    UpdateReviewInput,
)
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.services.access.caller import Caller
from app.services.access.classification import field_readable
from app.services.access.permissions import Action
from app.services.comms import communications as service
from app.services.comms import reviews
from app.services.comms.reviews import ReviewView
from app.services.incidents.commands import CommandResult


async def log_communication(
    info: Info[Context, Any], input: LogCommunicationInput
) -> CommunicationPayload:
    principal = authorize(info, Action.ADD_NOTE)
    try:
        view, result = await service.log_communication(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            channel=input.channel,
            direction=input.direction,
            message=input.message,
            audience=input.audience,
            recipient=input.recipient,
            occurred_at=input.occurred_at,
            classification=input.classification,
        )
    except DomainError as error:
        return CommunicationPayload(communication=None, errors=[UserError.of(error)])
    node = Communication.of(
        view, clearance=principal.clearance, incident=result.incident.classification
    )
    return CommunicationPayload(communication=node, errors=[])


async def communication_by_ref(info: Info[Context, Any], short_ref: str) -> Communication | None:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        view = await service.communication_by_ref(caller=Caller.of(principal), short_ref=short_ref)
    except DomainError as error:
        raise graphql_error(error) from None
    if view is None:
        return None
    snapshot = await info.context.loaders.incident.load(view.incident_id)
    if snapshot is None:
        return None
    return Communication.of(view, clearance=principal.clearance, incident=snapshot.classification)


# --- post-incident reviews ------------------------------------------------------------------


async def _review_command(
    info: Info[Context, Any],
    action: Action,
    command: Callable[[Caller], Awaitable[tuple[ReviewView, CommandResult]]],
) -> ReviewPayload:
    principal = authorize(info, action)
    try:
        view, result = await command(Caller.of(principal))
    except DomainError as error:
        return ReviewPayload(review=None, errors=[UserError.of(error)])
    readable = field_readable(principal.clearance, result.incident.classification, "description")
    return ReviewPayload(review=PostIncidentReview.of(view, readable=readable), errors=[])


async def start_review(info: Info[Context, Any], input: ReviewIncidentInput) -> ReviewPayload:
    return await _review_command(
        info,
        Action.ADD_NOTE,
        lambda caller: reviews.start_review(
            caller=caller, incident_id=incident_key(input.incident_id, field="incidentId")
        ),
    )


_REVIEW_FIELDS = {
    "summary": "summary",
    "impact": "customer_impact",
    "timeline_excerpt": "timeline_excerpt",
    "contributing_factors": "contributing_factors",
    "went_well": "went_well",
    "went_badly": "went_badly",
    "residual_risk": "residual_risk",
    "training_needs": "training_needs",
}


async def update_review(info: Info[Context, Any], input: UpdateReviewInput) -> ReviewPayload:
    changes = {
        name: getattr(input, api)
        for api, name in _REVIEW_FIELDS.items()
        if getattr(input, api) is not strawberry.UNSET
    }
    return await _review_command(
        info,
        Action.ADD_NOTE,
        lambda caller: reviews.update_review(
            caller=caller,
            incident_id=incident_key(input.incident_id, field="incidentId"),
            changes=changes,
            status=input.status,
        ),
    )


async def publish_review(info: Info[Context, Any], input: ReviewIncidentInput) -> ReviewPayload:
    return await _review_command(
        info,
        Action.PUBLISH_REVIEWS,
        lambda caller: reviews.publish_review(
            caller=caller, incident_id=incident_key(input.incident_id, field="incidentId")
        ),
    )


async def add_action_item(info: Info[Context, Any], input: AddActionItemInput) -> ActionItemPayload:
    principal = authorize(info, Action.ADD_NOTE)
    try:
        view = await reviews.add_action_item(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            title=input.title,
            owner_id=user_key(input.owner_id, field="ownerId") if input.owner_id else None,
            due_at=input.due_at,
            link=input.link,
        )
    except DomainError as error:
        return ActionItemPayload(action_item=None, errors=[UserError.of(error)])
    return ActionItemPayload(
        action_item=ActionItem.of(view, readable=True, now=utcnow()), errors=[]
    )


async def update_action_item(
    info: Info[Context, Any], input: UpdateActionItemInput
) -> ActionItemPayload:
    principal = authorize(info, Action.ADD_NOTE)
    try:
        changes: dict[str, Any] = {}
        for name in ("title", "due_at", "status", "link"):
            value = getattr(input, name)
            if value is not strawberry.UNSET:
                changes[name] = value
        if changes.get("title", "") is None or changes.get("status", "") is None:
            raise ValidationFailed("title and status cannot be null", field="title")
        if input.owner_id is not strawberry.UNSET:
            owner = input.owner_id
            changes["owner_id"] = user_key(owner, field="ownerId") if owner else None
        view = await reviews.update_action_item(
            caller=Caller.of(principal), action_item_id=input.id, changes=changes
        )
    except DomainError as error:
        return ActionItemPayload(action_item=None, errors=[UserError.of(error)])
    return ActionItemPayload(
        action_item=ActionItem.of(view, readable=True, now=utcnow()), errors=[]
    )
