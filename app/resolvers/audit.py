"""The audit log: admins only, newest first, with filters and cursors."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from app.errors import DomainError
from app.schema.audit import AuditFilter, AuditRecord, AuditRecordConnection, AuditRecordEdge
from app.schema.authorization import authorize
from app.schema.common import INCIDENT_PREFIX, PageInfo, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.services.access import audit as service
from app.services.access.caller import Caller
from app.services.access.permissions import Action


async def audit_log(
    info: Info[Context, Any],
    filter: AuditFilter | None = None,
    first: int = 50,
    after: str | None = None,
) -> AuditRecordConnection:
    principal = authorize(info, Action.READ_AUDIT)
    # Records are written by reads and by other processes: always answer from the database.
    info.context.mark_uncacheable()
    wanted = filter or AuditFilter()
    target = wanted.target
    if target is not None:
        target = from_global_id(INCIDENT_PREFIX, target) or target
    try:
        page = await service.list_records(
            caller=Caller.of(principal),
            filter=service.AuditFilter(
                action=wanted.action,
                actor=wanted.actor,
                target=target,
                since=wanted.since,
                until=wanted.until,
            ),
            first=first,
            after=after,
        )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [AuditRecordEdge(cursor=c, node=AuditRecord.of(r)) for c, r in page.items]
    return AuditRecordConnection(
        edges=edges,
        page_info=PageInfo.of(
            [e.cursor for e in edges],
            has_next=page.has_next_page,
            has_previous=after is not None,
        ),
    )
