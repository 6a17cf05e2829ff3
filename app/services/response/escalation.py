"""Escalation paths: who an incident goes to when nobody acknowledges it in time.

A tenant sets, per priority, the levels in turn: each a team (the incident is then assigned
to it) or a tier, with how many minutes an unacknowledged incident waits at the level
before it moves to the next. Moving up is a `com.incidents.escalated.v1` event (`level`,
`target`, `reason`, `automatic`), by itself (reason "ack timeout", or "response SLA
breached" where the policy says so) or by hand with a reason. The escalation level is
apart from `isMajor` and from the ESCALATED status. Every server's scheduler finds what is
due through the index on `escalation_next_at`, and the incident's sequence lets one process
make each step.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.core.clock import utcnow
from app.core.tasks import cancel_and_wait
from app.errors import DomainError, NotFound, ValidationFailed
from app.models import EscalationPolicy, EscalationTier, Incident, Priority, Team
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.incidents import commands as incident_commands
from app.services.incidents.commands import CommandResult
from app.services.incidents.sla_marks import SLA_BREACHED
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import NewEvent
from app.services.writer import Change

log = logging.getLogger(__name__)

ESCALATED = "com.incidents.escalated.v1"
ACK_TIMEOUT = "ack timeout"
RESPONSE_BREACHED = "response SLA breached"
LEVELS_MAX = 10
TIMEOUT_MAX_MINUTES = 7 * 24 * 60
REASON_MAX = 1000
INTERVAL = 1.0
BATCH = 200
TEAM_PREFIX = "team_"


@dataclass(frozen=True, slots=True)
class Level:
    team_id: str | None
    tier: EscalationTier | None
    ack_timeout_minutes: float

    def target(self) -> dict[str, Any]:
        team = TEAM_PREFIX + uuid.UUID(self.team_id).hex if self.team_id else None
        return {"team": team, "tier": self.tier.value if self.tier else None}


@dataclass(frozen=True, slots=True)
class PolicyView:
    priority: Priority
    levels: tuple[Level, ...] = ()
    escalate_on_breach: bool = False

    def next_due(self, level: int, since: datetime) -> datetime | None:
        """When an unacknowledged incident at `level` moves on by itself (None: the last)."""
        if level >= len(self.levels):
            return None
        return since + timedelta(minutes=self.levels[level].ack_timeout_minutes)


def levels_of(given: Sequence[Level]) -> tuple[Level, ...]:
    """The levels, checked: at most LEVELS_MAX, each a team or a tier (not both), waiting
    above 0 and at most a week."""
    if len(given) > LEVELS_MAX:
        raise ValidationFailed(f"at most {LEVELS_MAX} levels", field="levels")
    for n, level in enumerate(given):
        where = f"levels[{n}]"
        if (level.team_id is None) == (level.tier is None):
            raise ValidationFailed(f"{where} names a team or a tier", field=where)
        minutes = level.ack_timeout_minutes
        if not math.isfinite(minutes) or not 0 < minutes <= TIMEOUT_MAX_MINUTES:
            raise ValidationFailed(
                f"{where}.ackTimeoutMinutes must be above 0 and at most {TIMEOUT_MAX_MINUTES}",
                field=f"{where}.ackTimeoutMinutes",
            )
    return tuple(given)


def _view(row: EscalationPolicy) -> PolicyView:
    return PolicyView(
        priority=Priority(row.priority),
        levels=tuple(
            Level(
                team_id=raw.get("teamId"),
                tier=EscalationTier(raw["tier"]) if raw.get("tier") else None,
                ack_timeout_minutes=float(raw["ackTimeoutMinutes"]),
            )
            for raw in row.levels
        ),
        escalate_on_breach=row.escalate_on_breach,
    )


async def get_policies(*, tenant_id: str) -> dict[Priority, PolicyView]:
    """Every priority's path (an empty one where the tenant set none)."""
    rows = {r.priority: r for r in await EscalationPolicy.filter(tenant_id=tenant_id)}
    return {p: _view(rows[p.value]) if p.value in rows else PolicyView(p) for p in Priority}


async def update_policy(
    *,
    tenant_id: str,
    priority: Priority,
    levels: Sequence[Level],
    escalate_on_breach: bool,
) -> PolicyView:
    from tortoise.transactions import in_transaction

    checked = levels_of(levels)
    teams = [lv.team_id for lv in checked if lv.team_id is not None]
    known = {
        str(t)
        for t in await Team.filter(tenant_id=tenant_id, id__in=teams).values_list("id", flat=True)
    }
    for n, level in enumerate(checked):
        if level.team_id is not None and level.team_id not in known:
            raise NotFound(f"no team with id {level.team_id!r}", field=f"levels[{n}].teamId")
    raw = [
        {
            "teamId": lv.team_id,
            "tier": lv.tier.value if lv.tier else None,
            "ackTimeoutMinutes": lv.ack_timeout_minutes,
        }
        for lv in checked
    ]
    async with in_transaction():
        await EscalationPolicy.update_or_create(
            defaults={
                "levels": raw,
                "escalate_on_breach": escalate_on_breach,
                "updated_at": utcnow(),
            },
            tenant_id=tenant_id,
            priority=priority.value,
        )
        await audit.record(
            tenant_id=tenant_id,
            action="escalation.update",
            target=priority.value,
            changes={"levels": raw, "escalateOnBreach": escalate_on_breach},
        )
    return PolicyView(priority, checked, escalate_on_breach)


async def _policy(tenant_id: str, priority: Priority) -> PolicyView:
    row = await EscalationPolicy.get_or_none(tenant_id=tenant_id, priority=priority.value)
    return _view(row) if row is not None else PolicyView(priority)


# --- escalating -----------------------------------------------------------------------------


async def escalate(
    *,
    caller: Caller,
    incident_id: str,
    reason: str,
    team_id: str | None = None,
    tier: EscalationTier | None = None,
    due_reason: str | None = None,
) -> CommandResult:
    """Move the incident to its next level: by hand (`reason`, and optionally a team or a
    tier instead of the level's own), or, with `due_reason`, by itself as the scheduler
    found it due (nothing happens when that is no longer so)."""
    automatic = due_reason is not None
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed("say why the incident is escalated", field="reason")
    if len(text) > REASON_MAX:
        raise ValidationFailed(f"reason must be at most {REASON_MAX} characters", field="reason")
    if team_id is not None and tier is not None:
        raise ValidationFailed("give a team or a tier, not both", field="teamId")
    if team_id is not None and not await Team.exists(tenant_id=caller.tenant_id, id=team_id):
        raise NotFound(f"no team with id {team_id!r}", field="teamId")
    changed: dict[str, Any] = {}

    async def decide(incident: IncidentSnapshot) -> list[NewEvent]:
        now = utcnow()
        policy = await _policy(incident.tenant_id, incident.priority)
        if automatic and (
            incident.escalation_next_at is None
            or incident.escalation_next_at > now
            or (due_reason == ACK_TIMEOUT and incident.acknowledged_at is not None)
        ):
            return []
        level = incident.escalation_level + 1
        if team_id is not None or tier is not None:
            target = Level(team_id, tier, 0).target()
            to_team = team_id
        elif level <= len(policy.levels):
            step = policy.levels[level - 1]
            target, to_team = step.target(), step.team_id
        else:
            if automatic:
                return []
            raise ValidationFailed(
                f"the incident is at level {incident.escalation_level}, the last of its "
                f"{incident.priority.value} path: name a team or a tier to go further",
                field="id",
            )
        waiting = incident.acknowledged_at is None
        next_at = policy.next_due(level, now) if waiting else None
        changed.clear()
        changed.update(
            escalation_level=level,
            escalated_at=now,
            escalation_next_at=next_at,
            escalation_due_reason=ACK_TIMEOUT if next_at is not None else None,
        )
        if to_team is not None:
            changed["assigned_team_id"] = to_team
        return [
            NewEvent(
                type=ESCALATED,
                data={"level": level, "target": target, "reason": text, "automatic": automatic},
            )
        ]

    return await incident_commands.append_events(
        caller=caller, incident_id=incident_id, events=decide, fields=changed, open_only=True
    )


async def on_incident_change(change: Change) -> Callable[[], None] | None:
    """A declaration starts its priority's path; a breach of the response SLA moves it up
    at once where the policy says so."""
    incident = change.after
    due: tuple[datetime, str] | None = None
    if change.before is None:
        policy = await _policy(incident.tenant_id, incident.priority)
        at = policy.next_due(0, incident.created_at)
        due = (at, ACK_TIMEOUT) if at is not None else None
    elif any(
        e.type == SLA_BREACHED and e.data.get("clock") == "RESPONSE" for e in change.new_events
    ):
        policy = await _policy(incident.tenant_id, incident.priority)
        if policy.escalate_on_breach and incident.escalation_level < len(policy.levels):
            due = (change.now, RESPONSE_BREACHED)
    if due is not None:
        await Incident.filter(id=uuid.UUID(incident.id)).update(
            escalation_next_at=due[0], escalation_due_reason=due[1]
        )
        return _wake.set
    return None


_wake = asyncio.Event()


class EscalationScheduler:
    """Makes the steps that fell due, in every server process (an indexed read a second)."""

    def __init__(self, *, interval: float = INTERVAL) -> None:
        self._interval = interval
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name="escalation-scheduler")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def run_once(self) -> int:
        rows = (
            await Incident.filter(escalation_next_at__lte=utcnow())
            .order_by("escalation_next_at")
            .limit(BATCH)
        )
        for row in rows:
            reason = row.escalation_due_reason or ACK_TIMEOUT
            try:
                result = await escalate(
                    caller=Caller.system(row.tenant_id, actor="escalation"),
                    incident_id=str(row.id),
                    reason=reason,
                    due_reason=reason,
                )
            except DomainError as error:
                log.info("incident %s not escalated: %s", row.id, error)
                result = None
            if result is None or not result.events:
                # Acknowledged, closed, or at its last level: nothing more is due.
                await Incident.filter(id=row.id, last_seq=row.last_seq).update(
                    escalation_next_at=None, escalation_due_reason=None
                )
        return len(rows)

    async def _loop(self) -> None:
        while True:
            _wake.clear()
            try:
                due = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("escalation scheduler: a pass failed; retrying", exc_info=True)
                due = 0
            if due >= BATCH:
                continue
            try:
                await asyncio.wait_for(_wake.wait(), self._interval)
            except TimeoutError:
                pass
