"""A tenant's notification rules: which event of an incident notifies whom, over which
channels, with which subject and text.

Templates name the incident's fields in braces, `{reference} is {status}`: every name is
checked when the rule is saved (an unknown one is VALIDATION, naming it); nothing but a
plain name is accepted (no attribute, index, conversion or format), so rendering is a
substitution and nothing else.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.clock import utcnow
from app.core.ids import parse_uuid
from app.errors import NotFound, ValidationFailed
from app.models import (
    Audience,
    CommunicationChannel,
    NotificationRule,
    Priority,
    RuleEvent,
    RuleRecipient,
)
from app.services.comms.adapters import SENDABLE
from app.services.incidents import validation

RULES_MAX = 200
BODY_MAX = 4000
# What a template may name, and what it stands for.
PLACEHOLDERS = {
    "reference": "INC-<number>",
    "number": "the incident's number",
    "title": "its title",
    "status": "its status",
    "priority": "its priority (P1..P5)",
    "severity": "its severity (SEV1..SEV4)",
    "service": "its service",
    "assignee": "who it is assigned to",
    "commander": "its incident commander",
    "event": "what happened (declared, assigned, sla.breached...)",
    "resolution_summary": "how it was resolved",
    "sla_response_due": "when the response is due (UTC)",
    "sla_resolve_due": "when the resolution is due (UTC)",
    "review_due": "when its post-incident review is due (UTC)",
}
DEFAULT_SUBJECT = "[{priority}] {reference} {event}: {title}"
DEFAULT_BODY = "{reference} ({priority}, {status}): {title}\nAssigned to: {assignee}"


@dataclass(frozen=True, slots=True)
class RuleView:
    id: str
    name: str
    event: RuleEvent
    priorities: tuple[Priority, ...]
    recipients: tuple[RuleRecipient, ...]
    audience: Audience | None
    channels: tuple[CommunicationChannel, ...]
    subject_template: str
    body_template: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: NotificationRule) -> RuleView:
        return cls(
            id=str(row.id),
            name=row.name,
            event=row.event,
            priorities=tuple(Priority(p) for p in row.priorities),
            recipients=tuple(RuleRecipient(r) for r in row.recipients),
            audience=row.audience,
            channels=tuple(CommunicationChannel(c) for c in row.channels),
            subject_template=row.subject_template,
            body_template=row.body_template,
            enabled=row.enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def placeholders_of(template: str, *, field: str) -> set[str]:
    """The names a template uses; VALIDATION for an unknown name or anything but a name."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValidationFailed(f"{field}: {error} (write {{{{ for a brace)", field=field) from None
    names = set()
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            raise ValidationFailed(
                f"{field}: {{{name}}} is not a placeholder (write a plain name, such as "
                "{reference})",
                field=field,
            )
        names.add(name)
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        raise ValidationFailed(
            f"{field}: unknown placeholder{'s' if len(unknown) > 1 else ''} "
            f"{', '.join('{' + u + '}' for u in unknown)} (known: "
            f"{', '.join(sorted(PLACEHOLDERS))})",
            field=field,
        )
    return names


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with each placeholder replaced (a checked template only)."""
    return template.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


def _checked(changes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in changes:
        name = validation.name(changes["name"], field="name")
        if name is None:
            raise ValidationFailed("name must not be empty", field="name")
        out["name"] = name
    if "event" in changes:
        out["event"] = RuleEvent(changes["event"])
    if "priorities" in changes:
        out["priorities"] = [Priority(p).value for p in dict.fromkeys(changes["priorities"])]
    if "recipients" in changes:
        recipients = [RuleRecipient(r).value for r in dict.fromkeys(changes["recipients"])]
        if not recipients:
            raise ValidationFailed("name at least one recipient", field="recipients")
        out["recipients"] = recipients
    if "audience" in changes:
        audience = changes["audience"]
        if audience is Audience.END_USERS:
            raise ValidationFailed(
                "rules do not write to END_USERS: send customer updates with "
                "sendCommunication (PUBLIC only)",
                field="audience",
            )
        out["audience"] = audience
    if "channels" in changes:
        channels = [CommunicationChannel(c) for c in dict.fromkeys(changes["channels"])]
        if not channels:
            raise ValidationFailed("name at least one channel", field="channels")
        for channel in channels:
            if channel not in SENDABLE:
                raise ValidationFailed(
                    f"{channel.value} cannot be sent (EMAIL, SLACK, WEBHOOK, PAGERDUTY)",
                    field="channels",
                )
        out["channels"] = [c.value for c in channels]
    if "subject_template" in changes:
        subject = validation.name(changes["subject_template"], field="subjectTemplate")
        if subject is None:
            raise ValidationFailed("subjectTemplate must not be empty", field="subjectTemplate")
        placeholders_of(subject, field="subjectTemplate")
        out["subject_template"] = subject
    if "body_template" in changes:
        body = validation.text(changes["body_template"], field="bodyTemplate", required=True)
        assert body is not None
        if len(body) > BODY_MAX:
            raise ValidationFailed(
                f"bodyTemplate must be at most {BODY_MAX} characters", field="bodyTemplate"
            )
        placeholders_of(body, field="bodyTemplate")
        out["body_template"] = body
    if "enabled" in changes:
        out["enabled"] = bool(changes["enabled"])
    return out


def _needs_audience(recipients: Sequence[str], audience: Audience | None) -> None:
    if RuleRecipient.AUDIENCE.value in recipients and audience is None:
        raise ValidationFailed("AUDIENCE needs an audience", field="audience")


# Every tenant starts with these (and may change or delete them).
DEFAULT_RULES = (
    {
        "name": "Stakeholder update overdue",
        "event": RuleEvent.UPDATE_DUE,
        "recipients": [RuleRecipient.COMMUNICATIONS_LEAD.value],
        "channels": [CommunicationChannel.EMAIL.value, CommunicationChannel.SLACK.value],
        "subject_template": "{reference}: a stakeholder update is due",
        "body_template": "{reference} ({priority}, {status}): {title}\n"
        "Stakeholders have had no update within the cadence for {priority}: post a PUBLIC "
        "note or send one.",
    },
)


async def add_default_rules(*, tenant_id: str) -> None:
    now = utcnow()
    await NotificationRule.bulk_create(
        [
            NotificationRule(
                id=uuid.uuid4(), tenant_id=tenant_id, created_at=now, updated_at=now, **rule
            )
            for rule in DEFAULT_RULES
        ]
    )


async def create_rule(*, tenant_id: str, fields: Mapping[str, Any]) -> RuleView:
    values = _checked(
        {"subject_template": DEFAULT_SUBJECT, "body_template": DEFAULT_BODY, **fields}
    )
    for required in ("name", "event", "recipients", "channels"):
        if required not in values:
            raise ValidationFailed(f"{required} is required", field=required)
    _needs_audience(values["recipients"], values.get("audience"))
    if await NotificationRule.filter(tenant_id=tenant_id).count() >= RULES_MAX:
        raise ValidationFailed(f"a tenant may have at most {RULES_MAX} rules", field="name")
    now = utcnow()
    row = await NotificationRule.create(
        id=uuid.uuid4(), tenant_id=tenant_id, created_at=now, updated_at=now, **values
    )
    return RuleView.of(row)


async def update_rule(*, tenant_id: str, rule_id: str, changes: Mapping[str, Any]) -> RuleView:
    row = await _get(tenant_id, rule_id)
    values = _checked(changes)
    _needs_audience(values.get("recipients", row.recipients), values.get("audience", row.audience))
    await NotificationRule.filter(id=row.id).update(updated_at=utcnow(), **values)
    return RuleView.of(await NotificationRule.get(id=row.id))


async def delete_rule(*, tenant_id: str, rule_id: str) -> RuleView:
    row = await _get(tenant_id, rule_id)
    await row.delete()
    return RuleView.of(row)


async def list_rules(*, tenant_id: str) -> list[RuleView]:
    rows = await NotificationRule.filter(tenant_id=tenant_id).order_by("name", "id")
    return [RuleView.of(r) for r in rows]


async def get_rule(*, tenant_id: str, rule_id: str) -> RuleView:
    return RuleView.of(await _get(tenant_id, rule_id))


async def rules_for(*, tenant_id: str, events: Sequence[RuleEvent]) -> list[RuleView]:
    rows = await NotificationRule.filter(
        tenant_id=tenant_id, event__in=list(events), enabled=True
    ).order_by("name", "id")
    return [RuleView.of(r) for r in rows]


async def find_rule(*, tenant_id: str, rule: str) -> RuleView:
    """A rule by its id or its name (any case)."""
    key = parse_uuid(rule)
    row = await NotificationRule.get_or_none(tenant_id=tenant_id, id=key) if key else None
    if row is None:
        row = await NotificationRule.get_or_none(tenant_id=tenant_id, name__iexact=rule.strip())
    if row is None:
        raise NotFound(f"no notification rule named {rule!r}", field="rule")
    return RuleView.of(row)


async def _get(tenant_id: str, rule_id: str) -> NotificationRule:
    key = parse_uuid(rule_id)
    row = await NotificationRule.get_or_none(tenant_id=tenant_id, id=key) if key else None
    if row is None:
        raise NotFound(f"no notification rule with id {rule_id!r}", field="id")
    return row
