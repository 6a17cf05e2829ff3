"""Exports over HTTP, streamed: `GET /exports/incidents?format=csv|ndjson&filter=<JSON>` and
`GET /exports/incidents/{id}/timeline?format=ndjson`, for a Bearer token that reads
incidents. The filter is the GraphQL `IncidentFilter` as JSON (`{"status": ["OPEN"],
"isMajor": true}`); GraphQL's `exportIncidents` and `exportTimeline` answer these URLs.

Every export is audited before its first byte. Rows are read in keyset pages and written as
they come, so memory does not grow with the number of rows; text above the caller's
clearance is [REDACTED] as in the API, and a CSV cell that a spreadsheet would run as a
formula is prefixed with `'`. Refusals are JSON (`{"error", "code", "field"}`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, cast

from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    coerce_input_value,
    get_nullable_type,
    validate_input_value,
)
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from strawberry.types.arguments import convert_argument

from app.errors import DomainError, ErrorCode, ValidationFailed
from app.resolvers.root import schema
from app.schema.common import INCIDENT_PREFIX, from_global_id
from app.schema.incident_filter import IncidentFilter as FilterInput
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.exports import incidents as incident_export
from app.services.exports import timeline as timeline_export
from app.services.incidents.search import IncidentFilter
from app.web.middleware.authentication import bearer_principal
from app.web.middleware.refusal import Refusal, outage_refused

_MEDIA = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
# Rows put together before a chunk is written: fewer, larger writes.
_CHUNK_ROWS = 200


def parse_filter(text: str | None) -> IncidentFilter | None:
    """The JSON form of GraphQL's IncidentFilter, read by the schema's own input rules (every
    field and combinator); VALIDATION naming what is wrong."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise ValidationFailed("filter must be a JSON object", field="filter") from None
    if not isinstance(data, dict):
        raise ValidationFailed("filter must be a JSON object", field="filter")
    problems: list[tuple[str, str]] = []

    def refused(error: GraphQLError, path: list[str | int]) -> None:
        where = ".".join(str(p) for p in path if isinstance(p, str))
        problems.append((f"filter.{where}" if where else "filter", error.message))

    kind = cast(GraphQLInputType, schema._schema.type_map["IncidentFilter"])
    _known_fields(data, kind, "filter")
    validate_input_value(data, kind, refused)
    value = (
        None
        if problems
        else convert_argument(
            coerce_input_value(data, kind),
            FilterInput,
            scalar_registry=schema.schema_converter.scalar_registry,
            config=schema.config,
        )
    )
    if problems:
        field, message = problems[0]
        raise ValidationFailed(message, field=field)
    if not isinstance(value, FilterInput):
        raise ValidationFailed("filter must be a JSON object", field="filter")
    return value.to_domain()


def _known_fields(value: Any, kind: Any, path: str) -> None:
    """VALIDATION on the first field an input object does not have, named by its path."""
    kind = get_nullable_type(kind)
    if isinstance(kind, GraphQLList):
        for item in value if isinstance(value, list) else [value]:
            _known_fields(item, kind.of_type, path)
        return
    if not isinstance(kind, GraphQLInputObjectType) or not isinstance(value, dict):
        return
    for key, item in value.items():
        if key not in kind.fields:
            raise ValidationFailed(f"unknown filter field {key!r}", field=f"{path}.{key}")
        _known_fields(item, kind.fields[key].type, f"{path}.{key}")


async def _caller(request: Request) -> Caller:
    principal = await bearer_principal(
        request, Action.READ_INCIDENTS, "this token may not read incidents"
    )
    return Caller.of(principal)


def _format(request: Request, allowed_formats: tuple[str, ...]) -> str:
    name = request.query_params.get("format", allowed_formats[0]).lower()
    if name not in allowed_formats:
        raise ValidationFailed(
            f"format must be one of {', '.join(allowed_formats)}", field="format"
        )
    return name


async def _chunks(lines: AsyncIterator[str], first: str = "") -> AsyncIterator[bytes]:
    batch = [first] if first else []
    async for line in lines:
        batch.append(line)
        if len(batch) >= _CHUNK_ROWS:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


async def incidents(request: Request) -> Response:
    try:
        caller = await _caller(request)
        try:
            format = _format(request, ("csv", "ndjson"))
            filter = parse_filter(request.query_params.get("filter"))
        except DomainError as error:
            raise Refusal.of(error, status=400) from None
        with outage_refused():
            await audit.record(
                tenant_id=caller.tenant_id,
                action="export.incidents",
                target=None,
                changes={"format": format, "filter": request.query_params.get("filter")},
            )
    except Refusal as refusal:
        return refusal.webhook_response()
    rows = incident_export.rows(caller=caller, filter=filter)

    async def lines() -> AsyncIterator[str]:
        async for row in rows:
            yield (
                incident_export.csv_line(row)
                if format == "csv"
                else incident_export.ndjson_line(row)
            )

    header = incident_export.csv_header() if format == "csv" else ""
    return StreamingResponse(
        _chunks(lines(), header),
        media_type=_MEDIA[format],
        headers={
            "Content-Disposition": f'attachment; filename="incidents.{format}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def timeline(request: Request) -> Response:
    try:
        caller = await _caller(request)
        given = str(request.path_params["id"])
        try:
            _format(request, ("ndjson",))
            key = from_global_id(INCIDENT_PREFIX, given)
            if key is None:
                raise Refusal(404, ErrorCode.NOT_FOUND, f"no incident with id {given!r}")
            with outage_refused():
                envelopes = await timeline_export.envelopes(caller=caller, incident_id=key)
        except DomainError as error:
            status = 404 if error.code is ErrorCode.NOT_FOUND else 400
            raise Refusal.of(error, status=status) from None
        with outage_refused():
            await audit.record(
                tenant_id=caller.tenant_id,
                action="export.timeline",
                target=key,
                changes={"format": "ndjson"},
            )
    except Refusal as refusal:
        return refusal.webhook_response()

    async def lines() -> AsyncIterator[str]:
        async for envelope in envelopes:
            yield json.dumps(envelope, separators=(",", ":"), ensure_ascii=False) + "\n"

    return StreamingResponse(
        _chunks(lines()),
        media_type=_MEDIA["ndjson"],
        headers={
            "Content-Disposition": f'attachment; filename="timeline-{given}.ndjson"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
