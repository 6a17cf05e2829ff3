"""Incident metrics over a period: whoever reads incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from app.errors import DomainError
from app.schema.authorization import authorize
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.incident_filter import IncidentFilter
from app.schema.metrics import IncidentMetrics, MetricsGroupBy
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.incidents import metrics as service


async def incident_metrics(
    info: Info[Context, Any],
    from_: Annotated[datetime, strawberry.argument(name="from")],
    to: datetime,
    filter: IncidentFilter | None = None,
    group_by: list[MetricsGroupBy] | None = None,
) -> IncidentMetrics:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        view = await service.incident_metrics(
            caller=Caller.of(principal),
            start=from_,
            end=to,
            filter=filter.to_domain() if filter is not None else None,
            group_by=group_by or (),
        )
    except DomainError as error:
        raise graphql_error(error) from None
    return IncidentMetrics.of(view)
