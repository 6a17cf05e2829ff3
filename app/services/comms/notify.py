"""Notifications by rule: a writer hook that, in the transaction of the incident's change,
matches the change against the tenant's rules and writes one PENDING communication per
recipient and channel; the delivery worker sends them once the change has committed (so a
change and its notifications are stored together or not at all, and none is lost).

What a change fires: DECLARED (a new incident), ACKNOWLEDGED, ASSIGNED, MENTIONED (a
note's @mentions), ESCALATED (up its path, or to ESCALATED), SLA_WARNING, SLA_BREACHED,
RESOLVED, REVIEW_DUE (a resolved incident that needs a post-incident review) and UPDATE_DUE
(a stakeholder update overdue). Each person's preferences apply: channels they accept,
events they muted, and quiet hours, during which anything but a P1 waits until they end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.signal import Signal
from app.models import (
    Classification,
    Communication,
    CommunicationChannel,
    CommunicationDirection,
    DeliveryStatus,
    IncidentRole,
    IncidentStatus,
    NotificationSettings,
    Priority,
    RoleAssignment,
    RuleEvent,
    RuleRecipient,
    TeamMember,
    User,
)
from app.services.access.caller import actor_user_id
from app.services.access.classification import highest
from app.services.comms import refs, rules
from app.services.comms.preferences import PreferenceView, preferences_of, quiet_until
from app.services.comms.review_rules import review_due, review_required
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import EventType
from app.services.people import oncall
from app.services.writer import Change

# Told after commit that messages wait: the delivery worker wakes.
queued: Signal[None] = Signal("comms.queued")

_BY_TYPE = {
    EventType.ASSIGNED: RuleEvent.ASSIGNED,
    "com.incidents.escalated.v1": RuleEvent.ESCALATED,
    "com.incidents.sla.warning.v1": RuleEvent.SLA_WARNING,
    "com.incidents.sla.breached.v1": RuleEvent.SLA_BREACHED,
    EventType.RESOLVED: RuleEvent.RESOLVED,
    "com.incidents.comms.update_due.v1": RuleEvent.UPDATE_DUE,
}
_WORDS = {
    RuleEvent.DECLARED: "declared",
    RuleEvent.ACKNOWLEDGED: "acknowledged",
    RuleEvent.ASSIGNED: "assigned",
    RuleEvent.MENTIONED: "mentioned you",
    RuleEvent.ESCALATED: "escalated",
    RuleEvent.SLA_WARNING: "SLA warning",
    RuleEvent.SLA_BREACHED: "SLA breached",
    RuleEvent.RESOLVED: "resolved",
    RuleEvent.REVIEW_DUE: "review due",
    RuleEvent.UPDATE_DUE: "update due",
}


# What a PagerDuty rule does to the incident's PagerDuty alert (trigger otherwise).
_PAGERDUTY_ACTION = {RuleEvent.ACKNOWLEDGED: "acknowledge", RuleEvent.RESOLVED: "resolve"}


@dataclass
class Fired:
    events: dict[RuleEvent, set[str]] = field(default_factory=dict)  # event -> mentioned

    def add(self, event: RuleEvent, mentioned: Sequence[str] = ()) -> None:
        self.events.setdefault(event, set()).update(mentioned)


def fired_by(change: Change) -> Fired:
    """The rule events a change fires (and, for MENTIONED, whom)."""
    fired = Fired()
    after = change.after
    if change.before is None:
        fired.add(RuleEvent.DECLARED)
    for event in change.events:
        if event.type in _BY_TYPE:
            fired.add(_BY_TYPE[event.type])
        if event.type == EventType.NOTE_ADDED:
            users = [u for u in map(actor_user_id, event.data.get("mentionedUsers", ())) if u]
            if users:
                fired.add(RuleEvent.MENTIONED, users)
    if (
        change.before is not None
        and change.before.acknowledged_at is None
        and after.acknowledged_at is not None
    ):
        fired.add(RuleEvent.ACKNOWLEDGED)
    if (
        change.before is not None
        and change.before.status is not IncidentStatus.ESCALATED
        and after.status is IncidentStatus.ESCALATED
    ):
        fired.add(RuleEvent.ESCALATED)
    if RuleEvent.RESOLVED in fired.events and review_required(after.priority, after.is_major):
        fired.add(RuleEvent.REVIEW_DUE)
    return fired


def values_of(incident: IncidentSnapshot, event: RuleEvent) -> dict[str, str]:
    """What a template's placeholders stand for."""

    def when(value: datetime | None) -> str:
        return f"{value:%Y-%m-%d %H:%M} UTC" if value else ""

    return {
        "reference": f"INC-{incident.number}",
        "number": str(incident.number),
        "title": incident.title,
        "status": incident.status.value,
        "priority": incident.priority.value,
        "severity": incident.severity.value,
        "service": incident.service or "",
        "assignee": incident.assignee or "nobody",
        "commander": incident.commander or "none",
        "event": _WORDS[event],
        "resolution_summary": incident.resolution_summary or "",
        "sla_response_due": when(incident.sla_response_due),
        "sla_resolve_due": when(incident.sla_resolve_due),
        "review_due": when(review_due(incident.resolved_at)) if incident.resolved_at else "",
    }


@dataclass(frozen=True, slots=True)
class _Person:
    id: str
    email: str
    slack: str | None
    time_zone: str


async def on_incident_change(change: Change) -> Callable[[], None] | None:
    if change.after.is_drill:
        return None
    fired = fired_by(change)
    if not fired.events:
        return None
    incident = change.after
    found = await rules.rules_for(tenant_id=incident.tenant_id, events=list(fired.events))
    rows = await plan(incident, found, fired, change.now)
    if not rows:
        return None
    await Communication.bulk_create(rows)
    return lambda: queued.send(None)


async def plan(
    incident: IncidentSnapshot,
    found: Sequence[rules.RuleView],
    fired: Fired,
    now: datetime,
    *,
    claimed_until: datetime | None = None,
) -> list[Communication]:
    """The messages the rules make of what fired (each with its ref, PENDING: due now, at
    the end of someone's quiet hours, or at `claimed_until` when the caller delivers them)."""
    found = [r for r in found if not r.priorities or incident.priority in r.priorities]
    if not found:
        return []
    where = await NotificationSettings.get_or_none(tenant_id=incident.tenant_id)
    wanted = {r for rule in found for r in rule.recipients}
    people = await _people(incident, wanted, fired, now)
    everyone = {p.id for group in people.values() for p in group}
    prefs = await preferences_of(user_ids=sorted(everyone))
    rows: list[Communication] = []
    for rule in found:
        values = values_of(incident, rule.event)
        subject = rules.render(rule.subject_template, values)[:255]
        body = rules.render(rule.body_template, values)
        for channel, recipient, person in _targets(rule, people, where, fired):
            hold = None
            if person is not None:
                pref = prefs.get(person.id, PreferenceView.of(None))
                if not pref.accepts(channel, rule.event):
                    continue
                if incident.priority is not Priority.P1:
                    hold = quiet_until(now, pref.quiet_start, pref.quiet_end, person.time_zone)
            rows.append(
                Communication(
                    id=uuid.uuid4(),
                    tenant_id=incident.tenant_id,
                    incident_id=uuid.UUID(incident.id),
                    short_ref="",
                    channel=channel,
                    direction=CommunicationDirection.OUTBOUND,
                    audience=rule.audience,
                    recipient=recipient,
                    message=body,
                    subject=subject,
                    status=DeliveryStatus.PENDING,
                    classification=highest(Classification.INTERNAL, incident.classification),
                    action=_PAGERDUTY_ACTION.get(rule.event, "trigger"),
                    next_attempt_at=hold or claimed_until or now,
                    created_by=f"rule:{rule.name}"[:255],
                    created_at=now,
                )
            )
    if rows:
        await draw_refs(incident.tenant_id, rows, now)
    return rows


def _targets(
    rule: rules.RuleView,
    people: dict[RuleRecipient, list[_Person]],
    where: NotificationSettings | None,
    fired: Fired,
) -> list[tuple[CommunicationChannel, str, _Person | None]]:
    """(channel, recipient, person or None) of one rule, each recipient once."""
    persons: dict[str, _Person] = {}
    for kind in rule.recipients:
        if kind is RuleRecipient.MENTIONED and rule.event is not RuleEvent.MENTIONED:
            continue
        for someone in people.get(kind, ()):
            persons.setdefault(someone.id, someone)
    audience: dict[str, Any] = {}
    if RuleRecipient.AUDIENCE in rule.recipients and rule.audience and where is not None:
        audience = where.audiences.get(rule.audience.value, {})
    out: list[tuple[CommunicationChannel, str, _Person | None]] = []
    for channel in rule.channels:
        if channel is CommunicationChannel.EMAIL:
            out += [(channel, p.email, p) for p in persons.values()]
            out += [(channel, e, None) for e in audience.get("emails", ())]
        elif channel is CommunicationChannel.SLACK and where is not None:
            if where.slack_bot_token:
                out += [(channel, p.slack, p) for p in persons.values() if p.slack]
                if audience.get("slackChannel"):
                    out.append((channel, audience["slackChannel"], None))
            elif where.slack_webhook_url:
                out.append((channel, "webhook", None))
        elif channel is CommunicationChannel.WEBHOOK and where and where.webhook_url:
            out.append((channel, where.webhook_url, None))
        elif channel is CommunicationChannel.PAGERDUTY and where and where.pagerduty_routing_key:
            out.append((channel, "pagerduty", None))
    seen: set[tuple[CommunicationChannel, str]] = set()
    unique: list[tuple[CommunicationChannel, str, _Person | None]] = []
    for channel, recipient, person in out:
        if (channel, recipient) not in seen:
            seen.add((channel, recipient))
            unique.append((channel, recipient, person))
    return unique


async def _people(
    incident: IncidentSnapshot, wanted: set[RuleRecipient], fired: Fired, now: datetime
) -> dict[RuleRecipient, list[_Person]]:
    """The active users behind each kind of recipient the rules name."""
    tenant = incident.tenant_id
    ids: dict[RuleRecipient, set[str]] = {}
    if RuleRecipient.ASSIGNEE in wanted and incident.assigned_user_id:
        ids[RuleRecipient.ASSIGNEE] = {incident.assigned_user_id}
    team = incident.assigned_team_id
    if RuleRecipient.TEAM in wanted and team:
        members = await TeamMember.filter(tenant_id=tenant, team_id=team).values_list(
            "user_id", flat=True
        )
        ids[RuleRecipient.TEAM] = {str(m) for m in members}
    if RuleRecipient.ON_CALL in wanted and team:
        shifts = await oncall.on_call(tenant_id=tenant, at=now, team_ids=[team])
        ids[RuleRecipient.ON_CALL] = {s.user_id for s in shifts}
    roles = {
        RuleRecipient.COMMANDER: IncidentRole.COMMANDER,
        RuleRecipient.COMMUNICATIONS_LEAD: IncidentRole.COMMUNICATIONS_LEAD,
    }
    asked = [role for recipient, role in roles.items() if recipient in wanted]
    if asked:
        held = await RoleAssignment.filter(
            tenant_id=tenant, incident_id=uuid.UUID(incident.id), role__in=asked, ended_at=None
        ).values_list("role", "user_id")
        for recipient, role in roles.items():
            ids[recipient] = {str(u) for r, u in held if r == role}
    if RuleRecipient.MENTIONED in wanted:
        ids[RuleRecipient.MENTIONED] = set(fired.events.get(RuleEvent.MENTIONED, ()))
    every = {u for group in ids.values() for u in group}
    if not every:
        return {}
    users = {
        str(u.id): _Person(str(u.id), u.email, (u.chat_ids or {}).get("slack"), u.time_zone)
        for u in await User.filter(
            tenant_id=tenant, id__in=[uuid.UUID(u) for u in every], active=True
        )
    }
    return {
        recipient: [users[u] for u in sorted(group) if u in users]
        for recipient, group in ids.items()
    }


async def draw_refs(tenant_id: str, rows: list[Communication], now: datetime) -> None:
    """A short ref for each message, none already taken (a hook must not fail the change
    it follows on the unique index)."""
    pending = list(rows)
    while pending:
        drawn = {refs.new_ref(now): row for row in pending}
        if len(drawn) < len(pending):
            continue  # two alike in one draw: draw again
        taken: set[str] = {
            str(ref)
            for ref in await Communication.filter(
                tenant_id=tenant_id, short_ref__in=list(drawn)
            ).values_list("short_ref", flat=True)
        }
        for ref, row in drawn.items():
            if ref not in taken:
                row.short_ref = ref
        pending = [row for row in pending if row.short_ref == ""]
