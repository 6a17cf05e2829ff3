"""Incident roles: who leads the response (one COMMANDER at a time: a new one is a
handover), who talks to stakeholders, who writes things down, who liaises, and the experts.

Every assignment and unassignment is a `com.incidents.role.assigned.v1` event on the
incident's timeline (`from` and `to` are the users' ids, null on the empty side) written
with the assignment rows in the incident's own transaction, decided on the holders as they
are when the incident is read (its sequence guards the write). The COMMANDER's handle is the
incident's `commander` field, so readers of that older field see the same person.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.core.clock import utcnow
from app.core.ids import parse_uuid
from app.errors import NotFound
from app.models import IncidentRole, RoleAssignment
from app.services.access.caller import Caller, user_actor
from app.services.incidents import commands as incident_commands
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import (
    IncidentSnapshot,
    get_visible_incident,
    parse_incident_id,
)
from app.services.incidents.timeline import NewEvent
from app.services.people import users
from app.services.people.users import UserView

ROLE_ASSIGNED = "com.incidents.role.assigned.v1"


@dataclass(frozen=True, slots=True)
class RoleView:
    incident_id: str
    role: IncidentRole
    user_id: str
    assigned_by: str | None
    assigned_at: datetime

    @classmethod
    def of(cls, row: RoleAssignment) -> RoleView:
        return cls(
            incident_id=str(row.incident_id),
            role=row.role,
            user_id=str(row.user_id),
            assigned_by=row.assigned_by,
            assigned_at=row.assigned_at,
        )


async def assign_role(
    *, caller: Caller, incident_id: str, role: IncidentRole, user_id: str
) -> CommandResult:
    """Give `role` to the user (active, of the tenant). A COMMANDER replaces the one before
    (a handover); the other roles may be held by several users. Holding it already changes
    nothing."""
    key = _incident_key(incident_id)
    await _visible_incident(caller, incident_id)
    user = await users.active_user(tenant_id=caller.tenant_id, user_id=user_id)
    ended: list[str] = []

    async def decide(snapshot: IncidentSnapshot) -> list[NewEvent]:
        holders = await _holders(caller.tenant_id, key, role)
        if user.id in holders:
            return []
        ended[:] = holders if role is IncidentRole.COMMANDER else []
        return [_event(role, ended, user)]

    return await _record(caller, incident_id, key, role, decide, ended=ended, given=user)


async def unassign_role(
    *, caller: Caller, incident_id: str, role: IncidentRole, user_id: str
) -> CommandResult:
    """Take `role` from the user; NOT_FOUND (userId) when they do not hold it."""
    key = _incident_key(incident_id)
    await _visible_incident(caller, incident_id)

    async def decide(snapshot: IncidentSnapshot) -> list[NewEvent]:
        if user_id not in await _holders(caller.tenant_id, key, role):
            raise NotFound(f"user {user_id!r} does not hold {role.value} here", field="userId")
        return [_event(role, [user_id], None)]

    return await _record(caller, incident_id, key, role, decide, ended=[user_id], given=None)


def _event(role: IncidentRole, ended: Sequence[str], given: UserView | None) -> NewEvent:
    return NewEvent(
        type=ROLE_ASSIGNED,
        data={
            "role": role.value,
            "from": user_actor(ended[0]) if ended else None,
            "to": user_actor(given.id) if given is not None else None,
        },
    )


async def _record(
    caller: Caller,
    incident_id: str,
    key: uuid.UUID,
    role: IncidentRole,
    decide: Callable[[IncidentSnapshot], Awaitable[Sequence[NewEvent]]],
    *,
    ended: list[str],
    given: UserView | None,
) -> CommandResult:
    """The role change `decide` makes, written with its event: the `ended` holders' rows
    closed, a row for `given`, if any."""

    async def write(snapshot: IncidentSnapshot) -> None:
        now = utcnow()
        if ended:
            await RoleAssignment.filter(
                incident_id=key, role=role, ended_at=None, user_id__in=list(ended)
            ).update(ended_at=now)
        if given is not None:
            await RoleAssignment.create(
                tenant_id=caller.tenant_id,
                incident_id=key,
                role=role,
                user_id=uuid.UUID(given.id),
                assigned_by=caller.actor,
                assigned_at=now,
            )

    commander = role is IncidentRole.COMMANDER
    return await incident_commands.append_events(
        caller=caller,
        incident_id=incident_id,
        events=decide,
        also=write,
        fields={"commander": given.handle if given else None} if commander else None,
        open_only=True,
    )


async def roles_of(*, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, list[RoleView]]:
    """The roles held now on each incident, in role order, then by when they were given."""
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    rows = (
        await RoleAssignment.filter(tenant_id=tenant_id, incident_id__in=keys, ended_at=None)
        if keys
        else []
    )
    order = {role: n for n, role in enumerate(IncidentRole)}
    found: dict[str, list[RoleView]] = {i: [] for i in incident_ids}
    for row in sorted(rows, key=lambda r: (order[r.role], r.assigned_at, r.id)):
        found.setdefault(str(row.incident_id), []).append(RoleView.of(row))
    return found


def _incident_key(incident_id: str) -> uuid.UUID:
    try:
        return parse_incident_id(incident_id)
    except NotFound:
        raise NotFound(f"no incident with id {incident_id!r}", field="incidentId") from None


async def _visible_incident(caller: Caller, incident_id: str) -> IncidentSnapshot:
    return await get_visible_incident(caller=caller, incident_id=incident_id)


async def _holders(tenant_id: str, incident: uuid.UUID, role: IncidentRole) -> list[str]:
    rows = await RoleAssignment.filter(
        tenant_id=tenant_id, incident_id=incident, role=role, ended_at=None
    ).order_by("assigned_at", "id")
    return [str(r.user_id) for r in rows]
