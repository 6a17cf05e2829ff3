"""Slack slash commands: `/incident declare|status|ack|note|assign|resolve|help`, and the
buttons their replies carry (Acknowledge, Status), which run the same commands.

A request is Slack's: its v0 signature (HMAC-SHA256 of `v0:<timestamp>:<body>` keyed with
the app's signing secret) must match and its timestamp be within five minutes, or nothing
happens. The workspace (`team_id`) names the tenant; the Slack user must be a user of the
tenant whose `chatIds.slack` is their Slack id, and acts as that person with the RESPONDER
role (every rule of the API holds: separation of duties, clearance, quotas). Incidents are
named by number: `42`, `#42` or `INC-42`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.core.clock import utcnow
from app.errors import DomainError, NotFound
from app.models import (
    Classification,
    Impact,
    Incident,
    IncidentStatus,
    NotificationSettings,
    Role,
    Severity,
    Urgency,
    User,
)
from app.services.access import quotas, secret_box
from app.services.access.caller import Caller, user_actor
from app.services.access.classification import ROLE_CLEARANCE, field_readable
from app.services.incidents import commands
from app.services.incidents.lifecycle import ACTIVE_STATUSES

MAX_AGE_SECONDS = 300
# What everyone in a channel may read: a reply the channel sees is read at this clearance.
CHANNEL_CLEARANCE = Classification.INTERNAL
ROLE = Role.RESPONDER
_REF = re.compile(r"^(?:#|inc-)?(\d{1,9})$", re.IGNORECASE)
_SEVERITY = {
    "sev1": (Severity.SEV1, Impact.HIGH, Urgency.HIGH),
    "sev2": (Severity.SEV2, Impact.HIGH, Urgency.MEDIUM),
    "sev3": (Severity.SEV3, Impact.MEDIUM, Urgency.MEDIUM),
    "sev4": (Severity.SEV4, Impact.LOW, Urgency.LOW),
}
USAGE = (
    "Usage: `/incident declare <title> [sev1-sev4]`, `/incident status [INC-n]`, "
    "`/incident ack INC-n`, `/incident note INC-n <text>`, `/incident assign INC-n @handle`, "
    "`/incident resolve INC-n <summary>`"
)


class Refused(Exception):
    """Not Slack's request, or not one this tenant answers: nothing was done."""


# The buttons a reply about one incident carries, and the command each one runs.
ACTIONS = {"incident_ack": "ack", "incident_status": "status"}


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action_id: str
    value: str  # the incident, `INC-<n>`


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    # Seen by the channel (a change), or only by who typed (an answer, a refusal).
    public: bool = False
    buttons: tuple[Button, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "response_type": "in_channel" if self.public else "ephemeral",
            "text": self.text,
        }
        if self.buttons:
            out["blocks"] = [
                {"type": "section", "text": {"type": "mrkdwn", "text": self.text}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": b.label},
                            "action_id": b.action_id,
                            "value": b.value,
                        }
                        for b in self.buttons
                    ],
                },
            ]
        return out


def buttons_for(row: Incident) -> tuple[Button, ...]:
    """Acknowledge while nobody has, and the status, of one incident."""
    ref = f"INC-{row.number}"
    found = [Button("Status", "incident_status", ref)]
    if row.status is IncidentStatus.OPEN:
        found.insert(0, Button("Acknowledge", "incident_ack", ref))
    return tuple(found)


async def act(*, tenant_id: str, slack_user: str, action_id: str, value: str) -> Reply:
    """A button pressed: the command it stands for, as the person who pressed it."""
    verb = ACTIONS.get(action_id)
    if verb is None or not _REF.match(value.strip()):
        return Reply("That button is not one of ours (or no longer works).")
    return await run(tenant_id=tenant_id, slack_user=slack_user, text=f"{verb} {value.strip()}")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + digest.hexdigest()


async def verified_tenant(
    *, settings: Settings, team_id: str, timestamp: str, given: str, body: bytes
) -> str:
    """The tenant of a request Slack signed; Refused otherwise."""
    _fresh(timestamp)
    row = await NotificationSettings.get_or_none(slack_team_id=team_id) if team_id else None
    if row is None or not row.slack_signing_secret:
        raise Refused("no tenant answers this Slack workspace")
    secret = secret_box.load(settings).open(row.slack_signing_secret)
    if not hmac.compare_digest(signature(secret, timestamp, body), given):
        raise Refused("the request signature does not match")
    return row.tenant_id


async def verified_any(*, settings: Settings, timestamp: str, given: str, body: bytes) -> None:
    """Refused unless some tenant's Slack signing secret signed this (Slack's URL check)."""
    _fresh(timestamp)
    box = secret_box.load(settings)
    for sealed in await NotificationSettings.filter(slack_signing_secret__isnull=False).values_list(
        "slack_signing_secret", flat=True
    ):
        if hmac.compare_digest(signature(box.open(str(sealed)), timestamp, body), given):
            return
    raise Refused("the request signature does not match")


def _fresh(timestamp: str) -> None:
    try:
        age = abs(utcnow().timestamp() - int(timestamp))
    except ValueError:
        raise Refused("X-Slack-Request-Timestamp is not a number") from None
    if age > MAX_AGE_SECONDS:
        raise Refused("the request is older than five minutes (replayed or the clock is off)")


async def _person(tenant_id: str, slack_user: str) -> User | None:
    for user in await User.filter(tenant_id=tenant_id, active=True):
        if (user.chat_ids or {}).get("slack") == slack_user:
            return user
    return None


async def _incident(tenant_id: str, ref: str, clearance: Classification) -> Incident:
    match = _REF.match(ref.strip())
    row = (
        await Incident.get_or_none(tenant_id=tenant_id, number=int(match.group(1)))
        if match
        else None
    )
    if row is None or not field_readable(clearance, row.classification, "title"):
        raise NotFound(f"no incident {ref!r}")
    return row


def _line(row: Incident, clearance: Classification) -> str:
    title = row.title if field_readable(clearance, row.classification, "title") else "[REDACTED]"
    return f"INC-{row.number} [{row.priority.value}] {row.status.value}: {title}"


async def run(*, tenant_id: str, slack_user: str, text: str) -> Reply:
    """What `/incident <text>` does, as the linked person; refusals are replies too."""
    person = await _person(tenant_id, slack_user)
    if person is None:
        return Reply(
            f"Your Slack user ({slack_user}) is not linked to a user of this workspace's "
            'tenant: an administrator sets your chatIds to {"slack": "' + slack_user + '"}.'
        )
    clearance = ROLE_CLEARANCE[ROLE]
    caller = Caller(tenant_id, user_actor(str(person.id)), ROLE, clearance)
    quotas.meter(tenant_id)
    verb, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    try:
        return await _dispatch(caller, person, verb.lower(), rest)
    except DomainError as error:
        return Reply(f"Refused ({error.code.value}): {error.message}")


async def _dispatch(caller: Caller, person: User, verb: str, rest: str) -> Reply:
    tenant_id, clearance = caller.tenant_id, caller.clearance
    who = f"@{person.handle}"
    if verb == "declare":
        words = rest.split()
        level = _SEVERITY.get(words[-1].lower()) if words else None
        title = " ".join(words[:-1] if level else words)
        if not title:
            return Reply("Usage: `/incident declare <title> [sev1-sev4]`")
        severity, impact, urgency = level or _SEVERITY["sev3"]
        result = await commands.declare_incident(
            caller=caller, title=title, severity=severity, impact=impact, urgency=urgency
        )
        row = await Incident.get(id=result.incident.id)
        return Reply(
            f"{who} declared {_line(row, CHANNEL_CLEARANCE)}", public=True, buttons=buttons_for(row)
        )
    if verb == "status":
        if rest:
            row = await _incident(tenant_id, rest, clearance)
            return Reply(_line(row, clearance), buttons=buttons_for(row))
        active = (
            await Incident.filter(tenant_id=tenant_id, status__in=ACTIVE_STATUSES)
            .order_by("number")
            .limit(11)
        )
        shown = [r for r in active if field_readable(clearance, r.classification, "title")]
        if not shown:
            return Reply("No active incidents.")
        more = " (and more)" if len(active) > 10 else ""
        return Reply("\n".join(_line(r, clearance) for r in shown[:10]) + more)
    if verb in ("ack", "note", "assign", "resolve"):
        ref, _, tail = rest.partition(" ")
        if not ref:
            return Reply(USAGE)
        row = await _incident(tenant_id, ref, clearance)
        key, tail = str(row.id), tail.strip()
        if verb == "ack":
            await commands.transition_incident(
                caller=caller, incident_id=key, to=IncidentStatus.IN_PROGRESS
            )
        elif verb == "note":
            if not tail:
                return Reply("Usage: `/incident note INC-n <text>`")
            await commands.add_note(caller=caller, incident_id=key, body=tail)
        elif verb == "assign":
            handle = tail.removeprefix("@").strip().lower()
            assignee = await User.get_or_none(tenant_id=tenant_id, handle=handle, active=True)
            if assignee is None:
                return Reply(f"No active user @{handle}.")
            await commands.assign_incident(caller=caller, incident_id=key, user_id=str(assignee.id))
        else:
            if not tail:
                return Reply("Usage: `/incident resolve INC-n <summary>`")
            await commands.transition_incident(
                caller=caller, incident_id=key, to=IncidentStatus.RESOLVED, resolution_summary=tail
            )
        after = await Incident.get(id=row.id)
        done = {"ack": "acknowledged", "note": "noted", "assign": "assigned", "resolve": "resolved"}
        return Reply(f"{who} {done[verb]} {_line(after, CHANNEL_CLEARANCE)}", public=True)
    return Reply(USAGE)
