"""The audit log as admins read it."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.schema.common import PageInfo
from app.services.access.audit import AuditEntry


@strawberry.type(
    description="Who did what to which object, from which request. Immutable. The records of "
    "an incident the reader may not see are not listed."
)
class AuditRecord:
    time: datetime
    actor: str | None
    token_id: str | None
    request_id: str | None
    action: str = strawberry.field(description="e.g. incident.declared, incident.state_change")
    target: str | None = strawberry.field(description="The object's id (an incident's UUID).")
    changes: JSON = strawberry.field(
        description="Field deltas {field: {from, to}} and events. An incident's field values "
        "above the reader's clearance on that incident read [REDACTED] (null when empty), as "
        "the incident's own fields do."
    )
    redacted: bool = strawberry.field(
        description="True when values of this record were redacted for the reader."
    )

    @classmethod
    def of(cls, row: AuditEntry) -> AuditRecord:
        return cls(
            time=row.time,
            actor=row.actor,
            token_id=row.token_id,
            request_id=row.request_id,
            action=row.action,
            target=row.target,
            changes=JSON(row.changes),
            redacted=row.redacted,
        )


@strawberry.type
class AuditRecordEdge:
    cursor: str
    node: AuditRecord


@strawberry.type
class AuditRecordConnection:
    edges: list[AuditRecordEdge]
    page_info: PageInfo


@strawberry.input
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    target: str | None = strawberry.field(default=None, description="An incident id (inc_…).")
    since: datetime | None = None
    until: datetime | None = None
