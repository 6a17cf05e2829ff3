"""Alerts: lists, linking by hand; and the tenant's correlation rules."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError, NotFound, ValidationFailed
from app.resolvers.incident import incident_key
from app.schema.alert import (
    ALERT_PREFIX,
    RULE_PREFIX,
    Alert,
    AlertConnection,
    AlertEdge,
    AlertFilter,
    AlertPayload,
    CorrelationRule,
    CorrelationRulePayload,
    CreateCorrelationRuleInput,
    DeleteCorrelationRuleInput,
    DiscardQuarantinedAlertsInput,
    LinkAlertInput,
    QuarantinedAlert,
    QuarantinedAlertConnection,
    QuarantinedAlertEdge,
    QuarantinedAlertsPayload,
    RetryQuarantinedAlertsInput,
    UnlinkAlertInput,
    UpdateCorrelationRuleInput,
    quarantine_key,
)
from app.schema.authorization import (
    audit_reads,
    authorize,
    read_alerts,
    require_alert_clearance,
)
from app.schema.common import PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.incident import Incident
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.access.tokens import Principal
from app.services.alerts import links as alert_links
from app.services.alerts import quarantine
from app.services.alerts import queries as alert_queries
from app.services.alerts import rules as rules
from app.services.alerts.correlation import RULE_FIELDS
from app.services.incidents.snapshot import IncidentSnapshot


def alert_key(value: str, *, field: str = "alertId") -> str:
    """The alert UUID inside a global id (a bare UUID is accepted too)."""
    key = from_global_id(ALERT_PREFIX, value)
    if key is not None:
        return key
    return str(uuid_key(value, noun="alert", field=field))


# --- queries --------------------------------------------------------------------------------


def _incident_or_none(value: str) -> str:
    """The incident a filter names; an id that names no incident matches no alert."""
    try:
        return incident_key(value)
    except NotFound:
        return str(uuid.UUID(int=0))


async def alerts(
    info: Info[Context, Any],
    filter: AlertFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> AlertConnection:
    principal = read_alerts(info)
    clearance = principal.clearance
    try:
        domain_filter = filter.to_domain(_incident_or_none) if filter is not None else None
        page = await alert_queries.list_alerts(
            caller=Caller.of(principal), filter=domain_filter, first=first, after=after
        )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [
        AlertEdge(cursor=cursor, node=Alert.of(view, clearance=clearance))
        for cursor, view in page.items
    ]

    async def count() -> int:
        return await alert_queries.count_alerts(caller=Caller.of(principal), filter=domain_filter)

    return AlertConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        counter=count,
    )


def _quarantine_reader(info: Info[Context, Any]) -> Principal:
    return require_alert_clearance(authorize(info, Action.MANAGE_CORRELATION))


async def alert_quarantine(
    info: Info[Context, Any], first: int | None = None, after: str | None = None
) -> QuarantinedAlertConnection:
    tenant_id = _quarantine_reader(info).tenant_id
    try:
        page = await quarantine.list_quarantined(tenant_id=tenant_id, first=first, after=after)
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [
        QuarantinedAlertEdge(cursor=cursor, node=QuarantinedAlert.of(view))
        for cursor, view in page.items
    ]

    async def count() -> int:
        return await quarantine.count_quarantined(tenant_id=tenant_id)

    return QuarantinedAlertConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        counter=count,
    )


# --- linking --------------------------------------------------------------------------------


async def _alert_command(
    principal: Principal,
    command: Callable[[], Awaitable[tuple[alert_queries.AlertView, IncidentSnapshot]]],
) -> AlertPayload:
    try:
        view, snapshot = await command()
    except DomainError as error:
        return AlertPayload(alert=None, incident=None, errors=[UserError.of(error)])
    return AlertPayload(
        alert=Alert.of(view, clearance=principal.clearance),
        incident=Incident.of(snapshot, clearance=principal.clearance),
        errors=[],
    )


async def link_alert(info: Info[Context, Any], input: LinkAlertInput) -> AlertPayload:
    authorize(info, Action.LINK_ALERTS)
    principal = read_alerts(info)

    async def command() -> tuple[alert_queries.AlertView, IncidentSnapshot]:
        try:
            incident = incident_key(input.incident_id)
        except NotFound:
            raise NotFound(
                f"no incident with id {input.incident_id!r}", field="incidentId"
            ) from None
        return await alert_links.link_alert(
            caller=Caller.of(principal),
            alert_id=alert_key(input.alert_id),
            incident_id=incident,
        )

    payload = await _alert_command(principal, command)
    if payload.incident is not None:
        await audit_reads(info, [payload.incident.snapshot], via="linkAlert")
    return payload


async def unlink_alert(info: Info[Context, Any], input: UnlinkAlertInput) -> AlertPayload:
    authorize(info, Action.LINK_ALERTS)
    principal = read_alerts(info)
    payload = await _alert_command(
        principal,
        lambda: alert_links.unlink_alert(
            caller=Caller.of(principal),
            alert_id=alert_key(input.alert_id),
        ),
    )
    if payload.incident is not None:
        await audit_reads(info, [payload.incident.snapshot], via="unlinkAlert")
    return payload


# --- correlation rules ----------------------------------------------------------------------


async def retry_quarantined_alerts(
    info: Info[Context, Any], input: RetryQuarantinedAlertsInput
) -> QuarantinedAlertsPayload:
    tenant_id = _quarantine_reader(info).tenant_id
    return await _quarantine_command(input.ids, tenant_id, quarantine.retry_quarantined)


async def discard_quarantined_alerts(
    info: Info[Context, Any], input: DiscardQuarantinedAlertsInput
) -> QuarantinedAlertsPayload:
    tenant_id = _quarantine_reader(info).tenant_id
    return await _quarantine_command(input.ids, tenant_id, quarantine.discard_quarantined)


async def _quarantine_command(
    ids: list[strawberry.ID],
    tenant_id: str,
    command: Callable[..., Awaitable[int]],
) -> QuarantinedAlertsPayload:
    try:
        keys = []
        for value in ids:
            key = quarantine_key(value)
            if key is None:
                raise NotFound(f"no quarantined alert with id {value!r}", field="ids")
            keys.append(key)
        count = await command(tenant_id=tenant_id, ids=keys)
    except DomainError as error:
        return QuarantinedAlertsPayload(count=0, errors=[UserError.of(error)])
    return QuarantinedAlertsPayload(count=count, errors=[])


def rule_key(value: str) -> str:
    key = from_global_id(RULE_PREFIX, value)
    if key is None:
        raise NotFound(f"no correlation rule with id {value!r}", field="id")
    return key


async def correlation_rules(info: Info[Context, Any]) -> list[CorrelationRule]:
    principal = authorize(info, Action.MANAGE_CORRELATION)
    views = await rules.list_rules(tenant_id=principal.tenant_id)
    return [CorrelationRule.of(v) for v in views]


async def default_correlation_rule(info: Info[Context, Any]) -> CorrelationRule:
    principal = authorize(info, Action.MANAGE_CORRELATION)
    return CorrelationRule.of(await rules.default_rule(tenant_id=principal.tenant_id))


async def _rule_command(
    command: Callable[[], Awaitable[rules.RuleView]],
) -> CorrelationRulePayload:
    try:
        view = await command()
    except DomainError as error:
        return CorrelationRulePayload(rule=None, errors=[UserError.of(error)])
    return CorrelationRulePayload(rule=CorrelationRule.of(view), errors=[])


async def create_correlation_rule(
    info: Info[Context, Any], input: CreateCorrelationRuleInput
) -> CorrelationRulePayload:
    principal = authorize(info, Action.MANAGE_CORRELATION)
    return await _rule_command(
        lambda: rules.create_rule(
            tenant_id=principal.tenant_id,
            fields={name: getattr(input, name) for name in RULE_FIELDS},
            enabled=input.enabled,
            position=input.position,
        )
    )


# Fields that may not be set to null (null clears matchers, severity and titleTemplate).
_REQUIRED = {
    "name": "name",
    "group_by": "groupBy",
    "window_seconds": "windowSeconds",
    "auto_declare": "autoDeclare",
    "min_alerts": "minAlerts",
    "impact": "impact",
    "urgency": "urgency",
    "enabled": "enabled",
    "position": "position",
}


async def update_correlation_rule(
    info: Info[Context, Any], input: UpdateCorrelationRuleInput
) -> CorrelationRulePayload:
    principal = authorize(info, Action.MANAGE_CORRELATION)

    async def command() -> rules.RuleView:
        changes: dict[str, Any] = {}
        for name in RULE_FIELDS:
            value = getattr(input, name)
            if value is strawberry.UNSET:
                continue
            if value is None and name in _REQUIRED:
                raise _null(name)
            changes[name] = value
        enabled, position = input.enabled, input.position
        if enabled is None:
            raise _null("enabled")
        if position is None:
            raise _null("position")
        return await rules.update_rule(
            tenant_id=principal.tenant_id,
            rule_id=rule_key(input.id),
            changes=changes,
            enabled=None if enabled is strawberry.UNSET else enabled,
            position=None if position is strawberry.UNSET else position,
        )

    return await _rule_command(command)


def _null(name: str) -> DomainError:
    field = _REQUIRED[name]
    return ValidationFailed(f"{field} cannot be null", field=field)


async def delete_correlation_rule(
    info: Info[Context, Any], input: DeleteCorrelationRuleInput
) -> CorrelationRulePayload:
    principal = authorize(info, Action.MANAGE_CORRELATION)
    return await _rule_command(
        lambda: rules.delete_rule(tenant_id=principal.tenant_id, rule_id=rule_key(input.id))
    )
