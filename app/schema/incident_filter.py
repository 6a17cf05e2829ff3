"""Which incidents a list, a count, a metric or an export takes (`IncidentFilter`), and in
what order (`IncidentOrder`), as GraphQL inputs turned into the search's own filter."""

from __future__ import annotations

from typing import Any

import strawberry

from app.errors import ValidationFailed
from app.schema.common import (
    TEAM_PREFIX,
    Classification,
    TimeRange,
    from_global_id,
    time_range,
)
from app.schema.incident import (
    DetectionSource,
    IncidentCategory,
    IncidentOrderField,
    IncidentStatus,
    OrderDirection,
    Priority,
    Severity,
)
from app.schema.people import USER_PREFIX
from app.services import filtering
from app.services.catalog.queries import GLOBAL_PREFIX as SERVICE_PREFIX
from app.services.changes.commands import GLOBAL_PREFIX as CHANGE_PREFIX
from app.services.incidents import search as incident_search
from app.services.problems.commands import GLOBAL_PREFIX as PROBLEM_PREFIX


@strawberry.input(
    description="Which incidents: every field given must hold, each list meaning any of its "
    "values; `and`, `or` and `not` combine whole filters (at most 5 levels deep and 50 "
    "filters in all)."
)
class IncidentFilter:
    status: list[IncidentStatus] | None = None
    severity: list[Severity] | None = None
    priority: list[Priority] | None = None
    is_major: bool | None = None
    text: str | None = strawberry.field(
        default=None, description="Case-insensitive, in title or description."
    )
    assigned_user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Assigned to any of these users."
    )
    assigned_team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Assigned to any of these teams."
    )
    commander_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Commanded now by any of these users."
    )
    service_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Affecting any of these services."
    )
    category: list[IncidentCategory] | None = strawberry.field(
        default=None, description="Of any of these categories."
    )
    detection_source: list[DetectionSource] | None = strawberry.field(
        default=None, description="Come to be known in any of these ways."
    )
    classification: list[Classification] | None = None
    is_drill: bool | None = strawberry.field(
        default=None, description="true: only drills; false: only real incidents."
    )
    created: TimeRange | None = None
    updated: TimeRange | None = strawberry.field(
        default=None, description="Last changed in this range."
    )
    resolved: TimeRange | None = strawberry.field(
        default=None, description="Resolved in this range (never-resolved incidents do not match)."
    )
    sla_response_breached: bool | None = strawberry.field(
        default=None, description="The response clock ran past its deadline (or not)."
    )
    sla_resolve_breached: bool | None = strawberry.field(
        default=None, description="The resolve clock ran past its deadline (or not)."
    )
    has_alerts: bool | None = strawberry.field(
        default=None, description="With (or without) alerts linked."
    )
    has_tickets: bool | None = strawberry.field(
        default=None, description="With (or without) ServiceNow/Jira tickets linked."
    )
    has_open_tasks: bool | None = strawberry.field(
        default=None, description="With (or without) tasks TODO, IN_PROGRESS or BLOCKED."
    )
    problem_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Linked to any of these problems."
    )
    change_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Linked to any of these changes."
    )
    and_: list[IncidentFilter] | None = strawberry.field(
        default=None, name="and", description="Every one of these filters holds too."
    )
    or_: list[IncidentFilter] | None = strawberry.field(
        default=None, name="or", description="At least one of these filters holds too."
    )
    not_: IncidentFilter | None = strawberry.field(
        default=None, name="not", description="This filter does not hold."
    )

    def to_domain(self, *, checked: bool = False) -> incident_search.IncidentFilter:
        if not checked:
            filtering.check_shape(self)
        return incident_search.IncidentFilter(
            status=_set(self.status),
            severity=_set(self.severity),
            priority=_set(self.priority),
            is_major=self.is_major,
            text=self.text or None,
            assigned_users=_keys(USER_PREFIX, self.assigned_user_ids, "filter.assignedUserIds"),
            assigned_teams=_keys(TEAM_PREFIX, self.assigned_team_ids, "filter.assignedTeamIds"),
            commanders=_keys(USER_PREFIX, self.commander_ids, "filter.commanderIds"),
            services=_keys(SERVICE_PREFIX, self.service_ids, "filter.serviceIds"),
            category=_set(self.category),
            detection_source=_set(self.detection_source),
            classification=_set(self.classification),
            is_drill=self.is_drill,
            created=time_range(self.created, "filter.created"),
            updated=time_range(self.updated, "filter.updated"),
            resolved=time_range(self.resolved, "filter.resolved"),
            sla_response_breached=self.sla_response_breached,
            sla_resolve_breached=self.sla_resolve_breached,
            has_alerts=self.has_alerts,
            has_tickets=self.has_tickets,
            has_open_tasks=self.has_open_tasks,
            problems=_keys(PROBLEM_PREFIX, self.problem_ids, "filter.problemIds"),
            changes=_keys(CHANGE_PREFIX, self.change_ids, "filter.changeIds"),
            and_=tuple(f.to_domain(checked=True) for f in self.and_ or ()),
            or_=tuple(f.to_domain(checked=True) for f in self.or_ or ()),
            not_=self.not_.to_domain(checked=True) if self.not_ is not None else None,
        )


def _set(values: list[Any] | None) -> frozenset[Any] | None:
    return frozenset(values) if values is not None else None


def _keys(prefix: str, ids: list[strawberry.ID] | None, field: str) -> frozenset[str] | None:
    """The UUIDs of global ids; an id of another type is a VALIDATION error on `field`."""
    if ids is None:
        return None
    if len(ids) > FILTER_IDS_MAX:
        raise ValidationFailed(f"{field} takes at most {FILTER_IDS_MAX} ids", field=field)
    keys = set()
    for value in ids:
        key = from_global_id(prefix, value)
        if key is None:
            raise ValidationFailed(f"{value!r} is not an id of the right type", field=field)
        keys.add(key)
    return frozenset(keys)


FILTER_IDS_MAX = 100


@strawberry.input
class IncidentOrder:
    field: IncidentOrderField = incident_search.OrderField.CREATED_AT
    direction: OrderDirection = incident_search.Direction.DESC
