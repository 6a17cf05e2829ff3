"""Where to download exports of incidents and timelines."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import strawberry
from strawberry.types import Info

from app.errors import DomainError, ValidationFailed
from app.resolvers.incident import incident_key
from app.schema.authorization import authorize
from app.schema.common import INCIDENT_PREFIX, to_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.downloads import ExportFormat, ExportLink, filter_json
from app.schema.incident_filter import IncidentFilter
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.incidents.snapshot import get_visible_incident

_MEDIA = {ExportFormat.CSV: "text/csv", ExportFormat.NDJSON: "application/x-ndjson"}


def _link(info: Info[Context, Any], path: str, format: ExportFormat) -> ExportLink:
    base = str(info.context.request.base_url).rstrip("/")
    return ExportLink(url=base + path, path=path, media_type=_MEDIA[format], format=format)


async def export_incidents(
    info: Info[Context, Any], format: ExportFormat, filter: IncidentFilter | None = None
) -> ExportLink:
    authorize(info, Action.READ_INCIDENTS)
    try:
        if filter is not None:
            filter.to_domain()  # refused here as it would be there
    except DomainError as error:
        raise graphql_error(error) from None
    query = {"format": format.value.lower()}
    encoded = filter_json(filter)
    if encoded is not None:
        query["filter"] = encoded
    return _link(info, "/exports/incidents?" + urlencode(query), format)


async def export_timeline(
    info: Info[Context, Any], incident_id: strawberry.ID, format: ExportFormat
) -> ExportLink:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        if format is not ExportFormat.NDJSON:
            raise ValidationFailed("a timeline exports as NDJSON", field="format")
        key = incident_key(incident_id, field="incidentId")
        await get_visible_incident(caller=Caller.of(principal), incident_id=key)
    except DomainError as error:
        raise graphql_error(error) from None
    path = f"/exports/incidents/{to_global_id(INCIDENT_PREFIX, key)}/timeline?format=ndjson"
    return _link(info, path, format)
