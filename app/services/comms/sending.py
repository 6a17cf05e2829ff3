"""Sending a message about an incident: to users, teams, whoever is on call in teams,
e-mail addresses and audiences, over e-mail, Slack, the tenant's webhook and PagerDuty.

The send writes one Communication per recipient and channel (PENDING, each with its own
short ref) and a `com.incidents.comms.update_sent.v1` event for each, in the incident's
own transaction: nothing is sent that is not recorded. The rows are written claimed by the
request (their next attempt a lease away), which makes the first attempt once committed
and answers with `{sent, failed, pending}`; what fails and may be retried is left to the
delivery worker (services/comms/delivery.py), as is everything a crash interrupted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from app.config import Settings
from app.core.clock import utcnow
from app.core.ids import parse_uuid
from app.core.text import storable
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.models import (
    Audience,
    Classification,
    Communication,
    CommunicationChannel,
    CommunicationDirection,
    DeliveryStatus,
    Team,
    TeamMember,
    User,
)
from app.services.access.caller import Caller
from app.services.access.classification import reaches
from app.services.comms import delivery, destinations, notify, refs, rules
from app.services.comms.adapters import SENDABLE, Destinations
from app.services.comms.communications import REF_TRIES, CommunicationView
from app.services.incidents import commands as incident_commands
from app.services.incidents import validation
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import IncidentSnapshot, get_visible_incident
from app.services.incidents.timeline import NewEvent
from app.services.people import oncall
from app.services.people.users import email_of

UPDATE_SENT = "com.incidents.comms.update_sent.v1"
RECIPIENTS_MAX = 200
SUBJECT_MAX = 255


@dataclass(frozen=True, slots=True)
class Audiences:
    """Who a send is for, as the caller named them."""

    user_ids: Sequence[str] = ()
    team_ids: Sequence[str] = ()
    on_call_team_ids: Sequence[str] = ()
    addresses: Sequence[str] = ()
    audience: Audience | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    communications: list[CommunicationView]
    sent: int
    failed: int
    pending: int


async def send_communication(
    *,
    caller: Caller,
    incident_id: str,
    message: str,
    channels: Sequence[CommunicationChannel],
    to: Audiences,
    settings: Settings,
    subject: str | None = None,
    classification: Classification = Classification.INTERNAL,
    pagerduty_action: str = "trigger",
    message_max_bytes: int = validation.TEXT_MAX_BYTES,
) -> tuple[SendResult, CommandResult]:
    """`message_max_bytes`: larger for a report than for a message someone typed."""
    if not message.strip():
        raise ValidationFailed("message must not be empty", field="message")
    text = storable(message, field="message")
    if len(text.encode()) > message_max_bytes:
        raise ValidationFailed(
            f"message must be at most {message_max_bytes // 1024} KiB", field="message"
        )
    title = validation.name(subject, field="subject")
    if title is not None and len(title) > SUBJECT_MAX:
        raise ValidationFailed(f"subject must be at most {SUBJECT_MAX} characters", field="subject")
    wanted = list(dict.fromkeys(channels))
    if not wanted:
        raise ValidationFailed("name at least one channel", field="channels")
    for channel in wanted:
        if channel not in SENDABLE:
            raise ValidationFailed(
                f"{channel.value} messages cannot be sent from here: record them with "
                "logCommunication (sendable: EMAIL, SLACK, WEBHOOK, PAGERDUTY)",
                field="channels",
            )
    if not reaches(caller.clearance, classification):
        raise Forbidden(
            f"your clearance ({caller.clearance.value}) does not reach {classification.value}",
            field="classification",
        )
    if to.audience is Audience.END_USERS and classification is not Classification.PUBLIC:
        raise ValidationFailed(
            "only PUBLIC content may go to END_USERS: classify it PUBLIC", field="classification"
        )
    incident = await get_visible_incident(caller=caller, incident_id=incident_id)
    where = await destinations.destinations(tenant_id=caller.tenant_id, settings=settings)
    people = await _people(caller.tenant_id, to)
    targets = _targets(wanted, to, people, where, settings)
    if len(targets) > RECIPIENTS_MAX:
        raise ValidationFailed(
            f"a send reaches at most {RECIPIENTS_MAX} recipients ({len(targets)} named)",
            field="channels",
        )
    heading = title or default_subject(incident, classification)
    send_id = uuid.uuid4()
    now = utcnow()
    claimed_until = now + delivery.lease(settings)
    for _ in range(REF_TRIES):
        planned = [(uuid.uuid4(), refs.new_ref(now), channel, r) for channel, r in targets]

        async def write(
            snapshot: IncidentSnapshot,
            planned: list[tuple[uuid.UUID, str, CommunicationChannel, str]] = planned,
        ) -> None:
            await Communication.bulk_create(
                [
                    Communication(
                        id=key,
                        tenant_id=caller.tenant_id,
                        incident_id=uuid.UUID(snapshot.id),
                        short_ref=ref,
                        channel=channel,
                        direction=CommunicationDirection.OUTBOUND,
                        audience=to.audience,
                        recipient=recipient,
                        message=text,
                        subject=heading,
                        status=DeliveryStatus.PENDING,
                        classification=classification,
                        send_id=send_id,
                        action=pagerduty_action
                        if channel is CommunicationChannel.PAGERDUTY
                        else None,
                        next_attempt_at=claimed_until,
                        created_by=caller.actor,
                        created_at=now,
                    )
                    for key, ref, channel, recipient in planned
                ]
            )

        events = [
            NewEvent(
                type=UPDATE_SENT,
                data={
                    "shortRef": ref,
                    "channel": channel.value,
                    "audience": to.audience.value if to.audience else None,
                    "classification": classification.value,
                    "sendId": str(send_id),
                },
            )
            for _, ref, channel, _ in planned
        ]
        try:
            result = await incident_commands.append_events(
                caller=caller, incident_id=incident_id, events=events, also=write
            )
        except Conflict as error:
            if isinstance(error.__cause__, IntegrityError):
                continue  # a ref was drawn already today: draw them again
            raise
        ids = [str(key) for key, *_ in planned]
        await delivery.deliver(ids, settings=settings)
        return await _outcome(ids), result
    raise Conflict("no free short refs could be drawn; retry", field="incidentId")


def default_subject(incident: IncidentSnapshot, classification: Classification) -> str:
    """`INC-<n> (P<x>): <title>`, the title only where the message's classification covers
    the incident's (a PUBLIC message about a CONFIDENTIAL incident does not carry its title)."""
    head = f"Incident {incident.number} ({incident.priority.value})"
    if reaches(classification, incident.classification):
        return f"{head}: {incident.title}"[:SUBJECT_MAX]
    return head


@dataclass(frozen=True, slots=True)
class _Person:
    id: str
    email: str
    slack: str | None


async def _people(tenant_id: str, to: Audiences) -> list[_Person]:
    """The active users the send names, through teams and on-call; unknown ids refused."""
    user_ids = parse_ids(to.user_ids, field="userIds")
    team_ids = parse_ids(to.team_ids, field="teamIds")
    on_call_ids = parse_ids(to.on_call_team_ids, field="onCallTeamIds")
    wanted = set(user_ids)
    if team_ids:
        members = await TeamMember.filter(tenant_id=tenant_id, team_id__in=team_ids).values_list(
            "team_id", "user_id"
        )
        found = {str(t) for t, _ in members}
        await _known_teams(tenant_id, team_ids, found, field="teamIds")
        wanted |= {str(u) for _, u in members}
    if on_call_ids:
        await _known_teams(tenant_id, on_call_ids, set(), field="onCallTeamIds")
        shifts = await oncall.on_call(tenant_id=tenant_id, at=utcnow(), team_ids=on_call_ids)
        if not shifts:
            raise ValidationFailed("no one is on call in those teams now", field="onCallTeamIds")
        wanted |= {s.user_id for s in shifts}
    if not wanted:
        return []
    rows = await User.filter(tenant_id=tenant_id, id__in=list(wanted))
    unknown = set(user_ids) - {str(r.id) for r in rows}
    if unknown:
        raise ValidationFailed(f"no such users: {', '.join(sorted(unknown))}", field="userIds")
    return [
        _Person(str(r.id), r.email, (r.chat_ids or {}).get("slack"))
        for r in sorted(rows, key=lambda r: r.handle)
        if r.active
    ]


def parse_ids(values: Sequence[str], *, field: str) -> list[str]:
    """The ids, each once; one that is no id is refused by name."""
    keys = []
    for value in dict.fromkeys(values):
        key = parse_uuid(value)
        if key is None:
            raise ValidationFailed(f"no such id: {value!r}", field=field)
        keys.append(str(key))
    return keys


async def _known_teams(tenant_id: str, ids: Sequence[str], found: set[str], *, field: str) -> None:
    missing = set(ids) - found
    if missing:
        existing = await Team.filter(tenant_id=tenant_id, id__in=list(missing)).values_list(
            "id", flat=True
        )
        unknown = missing - {str(k) for k in existing}
        if unknown:
            raise ValidationFailed(f"no such teams: {', '.join(sorted(unknown))}", field=field)


def _targets(
    channels: Sequence[CommunicationChannel],
    to: Audiences,
    people: Sequence[_Person],
    where: Destinations,
    settings: Settings,
) -> list[tuple[CommunicationChannel, str]]:
    """(channel, recipient) for every message to write, each once."""
    group = where.audiences.get(to.audience.value, {}) if to.audience else {}
    targets: list[tuple[CommunicationChannel, str]] = []
    for channel in channels:
        found: list[str] = []
        if channel is CommunicationChannel.EMAIL:
            if not settings.smtp_url:
                raise ValidationFailed(
                    "EMAIL cannot be sent: the server has no INCIDENTGRAPH_SMTP_URL",
                    field="channels",
                )
            found = [p.email for p in people]
            found += [email_of(a) for a in to.addresses]
            found += list(group.get("emails", ()))
        elif channel is CommunicationChannel.SLACK:
            if where.slack_bot_token:
                found = [p.slack for p in people if p.slack]
                channel_id = group.get("slackChannel") or where.slack_channel
                if channel_id and (to.audience or not found):
                    found.append(channel_id)
            elif where.slack_webhook_url:
                found = ["webhook"]
            if not where.slack_bot_token and not where.slack_webhook_url:
                raise ValidationFailed(
                    "SLACK is not configured for this tenant (configureNotifications)",
                    field="channels",
                )
        elif channel is CommunicationChannel.WEBHOOK:
            if not where.webhook_url:
                raise ValidationFailed(
                    "WEBHOOK is not configured for this tenant (configureNotifications)",
                    field="channels",
                )
            found = [where.webhook_url]
        elif channel is CommunicationChannel.PAGERDUTY:
            if not where.pagerduty_routing_key:
                raise ValidationFailed(
                    "PAGERDUTY is not configured for this tenant (configureNotifications)",
                    field="channels",
                )
            found = ["pagerduty"]
        if not found:
            raise ValidationFailed(
                f"no {channel.value} recipient among those named", field="channels"
            )
        targets += [(channel, r) for r in dict.fromkeys(found)]
    return targets


async def run_rule(
    *, caller: Caller, incident_id: str, rule: str, settings: Settings
) -> tuple[SendResult, CommandResult]:
    """Send what a notification rule says about an incident, now, whatever its event (its
    MENTIONED recipients aside: no note is being written)."""
    found = await rules.find_rule(tenant_id=caller.tenant_id, rule=rule)
    await get_visible_incident(caller=caller, incident_id=incident_id)
    now = utcnow()
    claimed_until = now + delivery.lease(settings)
    planned: list[Communication] = []

    async def decide(snapshot: IncidentSnapshot) -> list[NewEvent]:
        planned[:] = await notify.plan(
            snapshot, [found], notify.Fired({found.event: set()}), now, claimed_until=claimed_until
        )
        if not planned:
            raise ValidationFailed(
                f"rule {found.name!r} reaches no one on this incident", field="rule"
            )
        return [
            NewEvent(
                type=UPDATE_SENT,
                data={
                    "shortRef": row.short_ref,
                    "channel": row.channel.value,
                    "audience": row.audience.value if row.audience else None,
                    "classification": row.classification.value,
                    "rule": found.name,
                },
            )
            for row in planned
        ]

    async def write(snapshot: IncidentSnapshot) -> None:
        await Communication.bulk_create(planned)

    result = await incident_commands.append_events(
        caller=caller, incident_id=incident_id, events=decide, also=write
    )
    ids = [str(row.id) for row in planned]
    await delivery.deliver(ids, settings=settings)
    return await _outcome(ids), result


async def _outcome(ids: list[str]) -> SendResult:
    rows = await Communication.filter(id__in=[uuid.UUID(i) for i in ids])
    order = {key: n for n, key in enumerate(ids)}
    views = sorted((CommunicationView.of(r) for r in rows), key=lambda v: order[v.id])
    counts = {s: sum(v.status is s for v in views) for s in DeliveryStatus}
    return SendResult(
        views,
        counts[DeliveryStatus.SENT],
        counts[DeliveryStatus.FAILED],
        counts[DeliveryStatus.PENDING],
    )


async def retry_communication(
    *, caller: Caller, communication_id: str, settings: Settings
) -> CommunicationView:
    """A FAILED outbound message (the dead letter) given its attempts back and tried again
    now; VALIDATION for any other."""
    key = parse_uuid(communication_id)
    row = await Communication.get_or_none(tenant_id=caller.tenant_id, id=key) if key else None
    if row is not None:
        await get_visible_incident(caller=caller, incident_id=str(row.incident_id))
    if row is None:
        raise NotFound(f"no communication with id {communication_id!r}", field="id")
    if row.direction is not CommunicationDirection.OUTBOUND or row.status is not (
        DeliveryStatus.FAILED
    ):
        raise ValidationFailed(
            f"only a FAILED outbound message can be retried (this one is {row.status.value})",
            field="id",
        )
    claimed = await Communication.filter(id=row.id, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow() + delivery.lease(settings),
    )
    if claimed:
        await delivery.deliver([str(row.id)], settings=settings)
    return CommunicationView.of(await Communication.get(id=row.id))
