"""Teams: named groups of a tenant's users with a role each, and an escalation tier.

A team's name is unique within the tenant whatever its case. Every change is audited in
the transaction that makes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.core.clock import utcnow
from app.core.ids import parse_uuid, uuid_key
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.core.text import filter_text
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import (
    EscalationTier,
    Rotation,
    RotationOverride,
    Team,
    TeamMember,
    TeamRole,
    User,
)
from app.services.access import audit
from app.services.people.users import name_of, provider_id_of

MEMBERS_MAX = 1000


@dataclass(frozen=True, slots=True)
class MemberView:
    user_id: str
    role: TeamRole
    added_at: datetime


@dataclass(frozen=True, slots=True)
class TeamView:
    id: str
    name: str
    tier: EscalationTier | None
    created_at: datetime
    updated_at: datetime
    external_id: str | None = None

    @classmethod
    def of(cls, row: Team) -> TeamView:
        return cls(
            id=str(row.id),
            name=row.name,
            tier=row.tier,
            created_at=row.created_at,
            updated_at=row.updated_at,
            external_id=row.external_id,
        )


@dataclass(frozen=True, slots=True)
class TeamFilter:
    text: str | None = None
    tier: EscalationTier | None = None


@dataclass(frozen=True, slots=True)
class TeamPage:
    items: list[tuple[str, TeamView]]
    has_next_page: bool
    has_previous_page: bool


# --- commands -------------------------------------------------------------------------------


async def create_team(
    *,
    tenant_id: str,
    name: str,
    tier: EscalationTier | None = None,
    external_id: str | None = None,
) -> TeamView:
    name = name_of(name)
    external_id = provider_id_of(external_id, field="externalId", longest=255)
    await _refuse_duplicate(tenant_id, name, except_id=None)
    now = utcnow()
    try:
        async with in_transaction():
            row = await Team.create(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                name=name,
                name_key=name.lower(),
                tier=tier,
                external_id=external_id,
                created_at=now,
                updated_at=now,
            )
            await audit.record(
                tenant_id=tenant_id,
                action="team.create",
                target=str(row.id),
                changes={"name": name, "tier": tier.value if tier else None},
            )
    except IntegrityError:
        await _refuse_duplicate(tenant_id, name, except_id=None)
        raise
    return TeamView.of(row)


async def update_team(*, tenant_id: str, team_id: str, changes: Mapping[str, Any]) -> TeamView:
    row = await _get(tenant_id, team_id)
    diff: dict[str, Any] = {}
    if "name" in changes:
        name = name_of(changes["name"])
        await _refuse_duplicate(tenant_id, name, except_id=str(row.id))
        if name != row.name:
            diff["name"] = {"from": row.name, "to": name}
            row.name, row.name_key = name, name.lower()
    if "tier" in changes:
        tier = changes["tier"]
        if tier != row.tier:
            diff["tier"] = {
                "from": row.tier.value if row.tier else None,
                "to": tier.value if tier else None,
            }
            row.tier = tier
    if "external_id" in changes:
        external_id = provider_id_of(changes["external_id"], field="externalId", longest=255)
        if external_id != row.external_id:
            diff["external_id"] = {"from": row.external_id, "to": external_id}
            row.external_id = external_id
    unknown = set(changes) - {"name", "tier", "external_id"}
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"{field} cannot be changed with updateTeam", field=field)
    if not diff:
        return TeamView.of(row)
    row.updated_at = utcnow()
    try:
        async with in_transaction():
            await row.save(update_fields=["name", "name_key", "tier", "external_id", "updated_at"])
            await audit.record(
                tenant_id=tenant_id, action="team.update", target=str(row.id), changes=diff
            )
    except IntegrityError:
        await _refuse_duplicate(tenant_id, row.name, except_id=str(row.id))
        raise
    return TeamView.of(row)


async def add_member(
    *, tenant_id: str, team_id: str, user_id: str, role: TeamRole = TeamRole.MEMBER
) -> TeamView:
    """Add the user to the team, or change their role in it."""
    team = await _get(tenant_id, team_id)
    user = await User.get_or_none(
        tenant_id=tenant_id, id=uuid_key(user_id, noun="user", field="userId")
    )
    if user is None:
        raise NotFound(f"no user with id {user_id!r}", field="userId")
    if not user.active:
        raise Conflict("a deactivated user cannot join a team", field="userId")
    async with in_transaction():
        member = await TeamMember.get_or_none(team_id=team.id, user_id=user.id)
        if member is not None and member.role is role:
            return TeamView.of(team)
        if member is None:
            if await TeamMember.filter(team_id=team.id).count() >= MEMBERS_MAX:
                raise ValidationFailed(f"a team has at most {MEMBERS_MAX} members", field="userId")
            await TeamMember.create(
                tenant_id=tenant_id, team_id=team.id, user_id=user.id, role=role, added_at=utcnow()
            )
            before = None
        else:
            before = member.role.value
            await TeamMember.filter(id=member.id).update(role=role)
        await audit.record(
            tenant_id=tenant_id,
            action="team.member_add",
            target=str(team.id),
            changes={"user": str(user.id), "role": {"from": before, "to": role.value}},
        )
    return TeamView.of(team)


async def remove_member(*, tenant_id: str, team_id: str, user_id: str) -> TeamView:
    team = await _get(tenant_id, team_id)
    key = uuid_key(user_id, noun="user", field="userId")
    async with in_transaction():
        removed = await TeamMember.filter(team_id=team.id, user_id=key).delete()
        if not removed:
            raise NotFound("the user is not a member of this team", field="userId")
        await audit.record(
            tenant_id=tenant_id,
            action="team.member_remove",
            target=str(team.id),
            changes={"user": str(key)},
        )
    return TeamView.of(team)


async def delete_team(*, tenant_id: str, team_id: str) -> TeamView:
    """Remove the team with its memberships and rotations. Incidents it was assigned to keep
    their history on the timeline; their `assignedTeam` reads null from then on."""
    team = await _get(tenant_id, team_id)
    async with in_transaction():
        rotations = Rotation.filter(team_id=team.id).values_list("id", flat=True)
        await RotationOverride.filter(rotation_id__in=list(await rotations)).delete()
        await Rotation.filter(team_id=team.id).delete()
        await TeamMember.filter(team_id=team.id).delete()
        await team.delete()
        await audit.record(
            tenant_id=tenant_id,
            action="team.delete",
            target=str(team.id),
            changes={"name": team.name},
        )
    return TeamView.of(team)


# --- reads ----------------------------------------------------------------------------------


async def get_teams(*, tenant_id: str, team_ids: Sequence[str]) -> dict[str, TeamView]:
    keys = [k for k in (parse_uuid(v) for v in team_ids) if k is not None]
    rows = await Team.filter(tenant_id=tenant_id, id__in=keys) if keys else []
    return {str(r.id): TeamView.of(r) for r in rows}


async def members_of(*, team_ids: Sequence[str]) -> dict[str, list[MemberView]]:
    """Each team's members, leads first, then by when they joined."""
    rows = await TeamMember.filter(team_id__in=list(team_ids)).order_by("added_at", "id")
    found: dict[str, list[MemberView]] = {t: [] for t in team_ids}
    for row in rows:
        found.setdefault(str(row.team_id), []).append(
            MemberView(user_id=str(row.user_id), role=row.role, added_at=row.added_at)
        )
    rank = {TeamRole.MANAGER: 0, TeamRole.LEAD: 1, TeamRole.MEMBER: 2}
    return {t: sorted(ms, key=lambda m: rank[m.role]) for t, ms in found.items()}


async def list_teams(
    *,
    tenant_id: str,
    filter: TeamFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> TeamPage:
    """Teams by name, `first` at a time after the cursor."""
    size = page_size(first)
    query = Team.filter(tenant_id=tenant_id)
    if filter is not None:
        query = query.filter(_filter_q(filter))
    if after is not None:
        query = query.filter(name_key__gt=decode_key_cursor("team", after))
    rows = await query.order_by("name_key").limit(size + 1)
    items = [(encode_key_cursor("team", r.name_key), TeamView.of(r)) for r in rows[:size]]
    return TeamPage(items, has_next_page=len(rows) > size, has_previous_page=after is not None)


async def count_teams(*, tenant_id: str, filter: TeamFilter | None = None) -> int:
    query = Team.filter(tenant_id=tenant_id)
    if filter is not None:
        query = query.filter(_filter_q(filter))
    return await query.count()


def _filter_q(filter: TeamFilter) -> Q:
    q = Q()
    if filter.text is not None:
        text = filter_text(filter.text)
        if text:
            q &= Q(name_key__contains=text.lower())
    if filter.tier is not None:
        q &= Q(tier=filter.tier)
    return q


async def _get(tenant_id: str, team_id: str) -> Team:
    row = await Team.get_or_none(
        tenant_id=tenant_id, id=uuid_key(team_id, noun="team", field="teamId")
    )
    if row is None:
        raise NotFound(f"no team with id {team_id!r}", field="teamId")
    return row


async def _refuse_duplicate(tenant_id: str, name: str, *, except_id: str | None) -> None:
    query = Team.filter(tenant_id=tenant_id, name_key=name.lower())
    if except_id is not None:
        query = query.exclude(id=except_id)
    if await query.exists():
        raise Conflict(f"a team named {name!r} already exists", field="name")
