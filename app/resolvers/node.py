"""Query.node: any object by its global id."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.resolvers.incident import visible_incident
from app.schema.alert import ALERT_PREFIX, Alert
from app.schema.authorization import authorize, read_alerts
from app.schema.catalog import SERVICE_PREFIX, Service
from app.schema.change import CHANGE_PREFIX, Change
from app.schema.common import EVENT_PREFIX, INCIDENT_PREFIX, TEAM_PREFIX, Node, from_global_id
from app.schema.comms import COMMUNICATION_PREFIX, Communication
from app.schema.context import Context
from app.schema.incident import Incident
from app.schema.knowledge import ARTICLE_PREFIX, KnowledgeArticle
from app.schema.oncall import ROTATION_PREFIX, Rotation
from app.schema.people import USER_PREFIX, Team, User
from app.schema.problem import PROBLEM_PREFIX, Problem
from app.schema.response import PLAYBOOK_PREFIX, TASK_PREFIX, Playbook, Task
from app.schema.timeline import TimelineEvent
from app.services.access.classification import field_readable
from app.services.access.permissions import Action
from app.services.comms.communications import get_communications
from app.services.incidents.timeline import find_event
from app.services.response.playbooks import get_playbooks


async def node(info: Info[Context, Any], id: strawberry.ID) -> Node | None:
    principal = authorize(info, Action.READ_INCIDENTS)
    clearance = principal.clearance
    key = from_global_id(INCIDENT_PREFIX, id)
    if key is not None:
        snapshot = await visible_incident(info, key, via="node")
        return Incident.of(snapshot, clearance=clearance) if snapshot else None
    key = from_global_id(EVENT_PREFIX, id)
    if key is not None:
        record = await find_event(tenant_id=principal.tenant_id, event_row_id=key)
        if record is None:
            return None
        # An event exists for the caller only where its incident does.
        snapshot = await visible_incident(info, record.incident_id, via="node")
        if snapshot is None:
            return None
        return TimelineEvent.of(
            record, clearance=clearance, incident_classification=snapshot.classification
        )
    key = from_global_id(USER_PREFIX, id)
    if key is not None:
        authorize(info, Action.READ_PEOPLE)
        user = await info.context.loaders.user.load(key)
        return User.of(user) if user else None
    key = from_global_id(TEAM_PREFIX, id)
    if key is not None:
        authorize(info, Action.READ_PEOPLE)
        team = await info.context.loaders.team.load(key)
        return Team.of(team) if team else None
    key = from_global_id(ARTICLE_PREFIX, id)
    if key is not None:
        article = await info.context.loaders.article.load(key)
        return KnowledgeArticle.of(article) if article else None
    key = from_global_id(CHANGE_PREFIX, id)
    if key is not None:
        change = await info.context.loaders.change.load(key)
        return Change.of(change) if change else None
    key = from_global_id(PROBLEM_PREFIX, id)
    if key is not None:
        problem = await info.context.loaders.problem.load(key)
        return Problem.of(problem) if problem else None
    key = from_global_id(SERVICE_PREFIX, id)
    if key is not None:
        service = await info.context.loaders.service.load(key)
        return Service.of(service) if service else None
    key = from_global_id(ROTATION_PREFIX, id)
    if key is not None:
        authorize(info, Action.READ_PEOPLE)
        rotation = await info.context.loaders.rotation.load(key)
        return Rotation.of(rotation) if rotation else None
    key = from_global_id(COMMUNICATION_PREFIX, id)
    if key is not None:
        message = (await get_communications(tenant_id=principal.tenant_id, ids=[key])).get(key)
        # It exists for the caller only where its incident does.
        snapshot = (
            await visible_incident(info, message.incident_id, via="node") if message else None
        )
        if message is None or snapshot is None:
            return None
        return Communication.of(message, clearance=clearance, incident=snapshot.classification)
    key = from_global_id(PLAYBOOK_PREFIX, id)
    if key is not None:
        found = await get_playbooks(tenant_id=principal.tenant_id, playbook_ids=[key])
        return Playbook.of(found[key]) if key in found else None
    key = from_global_id(TASK_PREFIX, id)
    if key is not None:
        task = await info.context.loaders.task.load(key)
        # A task exists for the caller only where its incident does.
        snapshot = await visible_incident(info, task.incident_id, via="node") if task else None
        if task is None or snapshot is None:
            return None
        readable = field_readable(clearance, snapshot.classification, "title")
        return Task.of(task, readable=readable)
    key = from_global_id(ALERT_PREFIX, id)
    if key is not None:
        read_alerts(info)
        # Hidden with its incident, when the caller may not see that.
        view = await info.context.loaders.alert.load(key)
        return Alert.of(view, clearance=clearance) if view else None
    return None
