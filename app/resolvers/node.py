"""Query.node: any object by its global id."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.resolvers.authorization import authorize
from app.resolvers.context import Context
from app.schema.common import EVENT_PREFIX, INCIDENT_PREFIX, Node, from_global_id
from app.schema.incident import Incident
from app.schema.timeline import TimelineEvent
from app.services.permissions import Action
from app.services.timeline import find_event


async def node(info: Info[Context, Any], id: strawberry.ID) -> Node | None:
    tenant_id = authorize(info, Action.READ_INCIDENTS).tenant_id
    key = from_global_id(INCIDENT_PREFIX, id)
    if key is not None:
        snapshot = await info.context.loaders.incident.load(key)
        return Incident.of(snapshot) if snapshot else None
    key = from_global_id(EVENT_PREFIX, id)
    if key is not None:
        record = await find_event(tenant_id=tenant_id, event_row_id=key)
        return TimelineEvent.of(record) if record else None
    return None
