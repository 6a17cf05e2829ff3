"""An incident's report, built from the API's own answer to the caller: every field, event,
message and review line is read through the same resolvers, loaders and redaction as any
query of theirs, then rendered (services/comms/report.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, TypeAlias

import strawberry
from graphql import GraphQLError

from app import models
from app.core.clock import utcnow
from app.errors import ErrorCode
from app.schema.context import Context
from app.services.access.classification import reaches
from app.services.comms.report import ReportFormat as Format
from app.services.comms.report import render

ReportFormat: TypeAlias = Annotated[
    Format, strawberry.enum(description="TEXT, MARKDOWN or HTML (self-contained, printable).")
]

# Events in a report: the first this many (the report says how many more there were).
EVENTS_MAX = 2000
_PAGE = 500

REPORT_QUERY = """
query Report($id: ID!, $after: String) {
  incident(id: $id) {
    reference title status severity impact urgency priority isMajor category subcategory
    service commander assignee declaredBy classification redactedFields
    assignedUser { name } assignedTeam { name } affectedServices { name }
    createdAt acknowledgedAt resolvedAt closedAt
    slaResponseBreached slaResolveBreached
    description publicSummary resolutionSummary rootCause
    timeline(first: 500, after: $after) {
      totalCount edges { node { time type actor actorUser { name } data redacted } }
      pageInfo { hasNextPage endCursor }
    }
    communications(first: 500) { edges { node {
      shortRef channel direction audience recipient message status sentAt createdAt } } }
    connectedTickets { provider number externalKey url syncState }
    alerts(first: 100) { edges { node { source title status severity count firstReceivedAt } } }
    review { version status summary impact contributingFactors wentWell wentBadly
      residualRisk trainingNeeds publishedAt
      actionItems { title status dueAt overdue owner { name } } }
  }
}
"""
TIMELINE_QUERY = """
query ReportTimeline($id: ID!, $after: String) { incident(id: $id) {
  timeline(first: 500, after: $after) {
    edges { node { time type actor actorUser { name } data redacted } }
    pageInfo { hasNextPage endCursor } } } }
"""


async def build_report(
    schema: Any,
    context: Context,
    incident_id: str,
    format: Format,
    *,
    clearance: models.Classification | None = None,
) -> str | None:
    """The report as the context's caller reads the incident (null when it does not exist
    for them); `clearance` lowers what it shows (a report meant for a wider audience)."""
    principal = context.require_principal()
    if clearance is not None and reaches(principal.clearance, clearance):
        principal = replace(principal, clearance=clearance)
    as_caller = Context(
        request=context.request,
        response=context.response,
        settings=context.settings,
        broker=context.broker,
        principal=principal,
    )
    first = await _run(schema, as_caller, REPORT_QUERY, {"id": incident_id, "after": None})
    incident = first["incident"]
    if incident is None:
        return None
    events = [e["node"] for e in incident["timeline"]["edges"]]
    page = incident["timeline"]["pageInfo"]
    while page["hasNextPage"] and len(events) < EVENTS_MAX:
        more = await _run(
            schema, as_caller, TIMELINE_QUERY, {"id": incident_id, "after": page["endCursor"]}
        )
        timeline = more["incident"]["timeline"]
        events += [e["node"] for e in timeline["edges"]]
        page = timeline["pageInfo"]
    events = events[:EVENTS_MAX]
    left_out = max(incident["timeline"]["totalCount"] - len(events), 0)
    return render(format, incident, events=events, generated_at=utcnow(), events_left_out=left_out)


async def _run(schema: Any, context: Context, query: str, variables: dict[str, Any]) -> Any:
    result = await schema.execute(query, variable_values=variables, context_value=context)
    if result.errors:
        error = result.errors[0]
        original = error.original_error
        if isinstance(original, GraphQLError):
            raise original
        raise GraphQLError(
            error.message,
            extensions=error.extensions or {"code": ErrorCode.INTERNAL_SERVER_ERROR.value},
        )
    return result.data
