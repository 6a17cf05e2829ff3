"""Sending messages about incidents, and configuring where they go."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app import models
from app.errors import DomainError, NotFound, ValidationFailed
from app.models import CommunicationChannel
from app.resolvers.incident import incident_key
from app.resolvers.people import given, team_key, user_key
from app.schema.authorization import authorize
from app.schema.common import UserError, from_global_id
from app.schema.comms import COMMUNICATION_PREFIX, Communication, CommunicationPayload
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.notifications import (
    RULE_PREFIX,
    ConfigureNotificationsInput,
    CreateNotificationRuleInput,
    DeleteNotificationRuleInput,
    EmailReportInput,
    NotificationPreferences,
    NotificationPreferencesInput,
    NotificationPreferencesPayload,
    NotificationRule,
    NotificationRulePayload,
    NotificationSettings,
    NotificationSettingsPayload,
    Placeholder,
    RetryCommunicationInput,
    RunNotificationRuleInput,
    SendCommunicationInput,
    SendCommunicationPayload,
    UpdateNotificationRuleInput,
)
from app.schema.report import ReportFormat, build_report
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.comms import destinations, preferences, rules, sending
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import get_visible_incident

# An e-mailed report may be longer than a message someone types.
REPORT_MAX_BYTES = 1024 * 1024

_SETTINGS_FIELDS = (
    "email_from",
    "slack_webhook_url",
    "slack_bot_token",
    "slack_api_url",
    "slack_channel",
    "slack_team_id",
    "slack_signing_secret",
    "slack_incident_channels",
    "webhook_url",
    "pagerduty_routing_key",
    "pagerduty_events_url",
)


async def send_communication(
    info: Info[Context, Any], input: SendCommunicationInput
) -> SendCommunicationPayload:
    principal = authorize(info, Action.SEND_COMMUNICATIONS)
    try:
        to = sending.Audiences(
            user_ids=[user_key(i, field="userIds") for i in input.user_ids],
            team_ids=[team_key(i, field="teamIds") for i in input.team_ids],
            on_call_team_ids=[team_key(i, field="onCallTeamIds") for i in input.on_call_team_ids],
            addresses=input.addresses,
            audience=input.audience,
        )
        result, command = await sending.send_communication(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            message=input.message,
            channels=input.channels,
            to=to,
            settings=info.context.settings,
            subject=input.subject,
            classification=input.classification,
        )
    except DomainError as error:
        return SendCommunicationPayload(
            communications=[], sent=0, failed=0, pending=0, errors=[UserError.of(error)]
        )
    return _payload(result, command, principal.clearance)


def _payload(
    result: sending.SendResult, command: CommandResult, clearance: models.Classification
) -> SendCommunicationPayload:
    nodes = [
        Communication.of(v, clearance=clearance, incident=command.incident.classification)
        for v in result.communications
    ]
    return SendCommunicationPayload(
        communications=nodes,
        sent=result.sent,
        failed=result.failed,
        pending=result.pending,
        errors=[],
    )


async def retry_communication(
    info: Info[Context, Any], input: RetryCommunicationInput
) -> CommunicationPayload:
    principal = authorize(info, Action.SEND_COMMUNICATIONS)
    key = from_global_id(COMMUNICATION_PREFIX, input.id)
    try:
        view = await sending.retry_communication(
            caller=Caller.of(principal),
            communication_id=key if key is not None else input.id,
            settings=info.context.settings,
        )
        incident = await get_visible_incident(
            caller=Caller.of(principal), incident_id=view.incident_id
        )
    except DomainError as error:
        return CommunicationPayload(communication=None, errors=[UserError.of(error)])
    node = Communication.of(view, clearance=principal.clearance, incident=incident.classification)
    return CommunicationPayload(communication=node, errors=[])


async def run_notification_rule(
    info: Info[Context, Any], input: RunNotificationRuleInput
) -> SendCommunicationPayload:
    principal = authorize(info, Action.SEND_COMMUNICATIONS)
    try:
        result, command = await sending.run_rule(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            rule=rule_key(input.rule),
            settings=info.context.settings,
        )
    except DomainError as error:
        return SendCommunicationPayload(
            communications=[], sent=0, failed=0, pending=0, errors=[UserError.of(error)]
        )
    return _payload(result, command, principal.clearance)


async def email_report(
    info: Info[Context, Any], input: EmailReportInput
) -> SendCommunicationPayload:
    principal = authorize(info, Action.SEND_COMMUNICATIONS)
    try:
        incident_id = incident_key(input.incident_id, field="incidentId")
        text = await build_report(
            info.schema,
            info.context,
            input.incident_id,
            ReportFormat.TEXT,
            clearance=input.classification,
        )
        if text is None:
            raise NotFound(f"no incident with id {input.incident_id!r}", field="incidentId")
        reference = text.split(":", 1)[0]
        to = sending.Audiences(
            user_ids=[user_key(i, field="userIds") for i in input.user_ids],
            team_ids=[team_key(i, field="teamIds") for i in input.team_ids],
            addresses=input.addresses,
            audience=input.audience,
        )
        result, command = await sending.send_communication(
            caller=Caller.of(principal),
            incident_id=incident_id,
            message=text,
            channels=[CommunicationChannel.EMAIL],
            to=to,
            settings=info.context.settings,
            subject=f"Incident report {reference}",
            classification=input.classification,
            message_max_bytes=REPORT_MAX_BYTES,
        )
    except DomainError as error:
        return SendCommunicationPayload(
            communications=[], sent=0, failed=0, pending=0, errors=[UserError.of(error)]
        )
    return _payload(result, command, principal.clearance)


async def notification_settings(info: Info[Context, Any]) -> NotificationSettings:
    principal = authorize(info, Action.MANAGE_NOTIFICATIONS)
    return NotificationSettings.of(await destinations.get_settings(tenant_id=principal.tenant_id))


async def configure_notifications(
    info: Info[Context, Any], input: ConfigureNotificationsInput
) -> NotificationSettingsPayload:
    principal = authorize(info, Action.MANAGE_NOTIFICATIONS)
    changes: dict[str, Any] = {
        name: getattr(input, name)
        for name in _SETTINGS_FIELDS
        if getattr(input, name) is not strawberry.UNSET
    }
    if input.audiences is not strawberry.UNSET:
        changes["audiences"] = [
            {"audience": a.audience, "emails": a.emails, "slack_channel": a.slack_channel}
            for a in input.audiences or []
        ]
    try:
        view = await destinations.configure(
            tenant_id=principal.tenant_id,
            settings=info.context.settings,
            changes=changes,
            rotate_webhook_secret=input.rotate_webhook_secret,
        )
    except DomainError as error:
        return NotificationSettingsPayload(settings=None, errors=[UserError.of(error)])
    return NotificationSettingsPayload(settings=NotificationSettings.of(view), errors=[])


_RULE_FIELDS = (
    "name",
    "event",
    "recipients",
    "channels",
    "priorities",
    "audience",
    "subject_template",
    "body_template",
    "enabled",
)


def rule_key(value: str) -> str:
    key = from_global_id(RULE_PREFIX, value)
    return key if key is not None else value


async def notification_rules(info: Info[Context, Any]) -> list[NotificationRule]:
    principal = authorize(info, Action.MANAGE_NOTIFICATIONS)
    return [NotificationRule.of(v) for v in await rules.list_rules(tenant_id=principal.tenant_id)]


def notification_placeholders() -> list[Placeholder]:
    return [Placeholder(name=n, description=d) for n, d in sorted(rules.PLACEHOLDERS.items())]


async def _rule_command(
    info: Info[Context, Any], run: Callable[[str], Awaitable[rules.RuleView]]
) -> NotificationRulePayload:
    principal = authorize(info, Action.MANAGE_NOTIFICATIONS)
    try:
        view = await run(principal.tenant_id)
    except DomainError as error:
        return NotificationRulePayload(rule=None, errors=[UserError.of(error)])
    return NotificationRulePayload(rule=NotificationRule.of(view), errors=[])


async def create_notification_rule(
    info: Info[Context, Any], input: CreateNotificationRuleInput
) -> NotificationRulePayload:
    fields = {k: v for k, v in given(input, _RULE_FIELDS).items() if v is not None}
    return await _rule_command(
        info, lambda tenant: rules.create_rule(tenant_id=tenant, fields=fields)
    )


async def update_notification_rule(
    info: Info[Context, Any], input: UpdateNotificationRuleInput
) -> NotificationRulePayload:
    changes = given(input, _RULE_FIELDS)
    return await _rule_command(
        info,
        lambda tenant: rules.update_rule(
            tenant_id=tenant, rule_id=rule_key(input.id), changes=changes
        ),
    )


async def delete_notification_rule(
    info: Info[Context, Any], input: DeleteNotificationRuleInput
) -> NotificationRulePayload:
    return await _rule_command(
        info, lambda tenant: rules.delete_rule(tenant_id=tenant, rule_id=rule_key(input.id))
    )


def _person(principal: Any) -> str:
    if principal.user_id is None:
        raise ValidationFailed(
            "a service token has no person to notify: use a person's token", field="token"
        )
    return str(principal.user_id)


async def my_notification_preferences(info: Info[Context, Any]) -> NotificationPreferences:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        user_id = _person(principal)
    except DomainError as error:
        raise graphql_error(error) from None
    found = await preferences.preferences_of(user_ids=[user_id])
    return NotificationPreferences.of(found[user_id])


async def set_notification_preferences(
    info: Info[Context, Any], input: NotificationPreferencesInput
) -> NotificationPreferencesPayload:
    principal = authorize(info, Action.READ_INCIDENTS)
    changes = given(input, ("channels", "muted_events", "quiet_start", "quiet_end"))
    try:
        view = await preferences.set_preferences(
            tenant_id=principal.tenant_id, user_id=_person(principal), changes=changes
        )
    except DomainError as error:
        return NotificationPreferencesPayload(preferences=None, errors=[UserError.of(error)])
    return NotificationPreferencesPayload(preferences=NotificationPreferences.of(view), errors=[])
