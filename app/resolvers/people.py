"""People: users and teams, read by every person's role, managed by ADMIN."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError, ValidationFailed
from app.schema.authorization import authorize
from app.schema.common import TEAM_PREFIX, PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.people import (
    USER_PREFIX,
    CreateTeamInput,
    CreateUserInput,
    DeactivateUserInput,
    RemoveTeamMemberInput,
    Team,
    TeamConnection,
    TeamEdge,
    TeamFilter,
    TeamMemberInput,
    TeamPayload,
    UpdateTeamInput,
    UpdateUserInput,
    User,
    UserConnection,
    UserEdge,
    UserFilter,
    UserPayload,
)
from app.services.access.permissions import Action
from app.services.people import teams as team_service
from app.services.people import users as user_service
from app.services.people.teams import TeamView
from app.services.people.users import UserView


def user_key(value: str, *, field: str = "id") -> str:
    """The user UUID inside a global id (a bare UUID is accepted too)."""
    key = from_global_id(USER_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="user", field=field))


def team_key(value: str, *, field: str = "id") -> str:
    """The team UUID inside a global id (a bare UUID is accepted too)."""
    key = from_global_id(TEAM_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="team", field=field))


def given(input: object, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields of an input the caller gave (UNSET ones left out), by name."""
    return {n: getattr(input, n) for n in names if getattr(input, n) is not strawberry.UNSET}


# --- queries --------------------------------------------------------------------------------


async def me(info: Info[Context, Any]) -> User | None:
    principal = info.context.require_principal()
    # The answer is this person's: another reader with the same role must not be served it.
    info.context.mark_uncacheable()
    if principal.user_id is None:
        return None
    view = await info.context.loaders.user.load(principal.user_id)
    return User.of(view) if view is not None else None


async def users(
    info: Info[Context, Any],
    filter: UserFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> UserConnection:
    principal = authorize(info, Action.READ_PEOPLE)
    try:
        domain = None
        if filter is not None:
            team = team_key(filter.team_id, field="filter.teamId") if filter.team_id else None
            domain = user_service.UserFilter(text=filter.text, active=filter.active, team_id=team)
        page = await user_service.list_users(
            tenant_id=principal.tenant_id, filter=domain, first=first, after=after
        )
        total = await user_service.count_users(tenant_id=principal.tenant_id, filter=domain)
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [UserEdge(cursor=c, node=User.of(v)) for c, v in page.items]
    return UserConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        total_count=total,
    )


async def teams(
    info: Info[Context, Any],
    filter: TeamFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> TeamConnection:
    principal = authorize(info, Action.READ_PEOPLE)
    domain = team_service.TeamFilter(text=filter.text, tier=filter.tier) if filter else None
    try:
        page = await team_service.list_teams(
            tenant_id=principal.tenant_id, filter=domain, first=first, after=after
        )
        total = await team_service.count_teams(tenant_id=principal.tenant_id, filter=domain)
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [TeamEdge(cursor=c, node=Team.of(v)) for c, v in page.items]
    return TeamConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        total_count=total,
    )


# --- commands -------------------------------------------------------------------------------


async def _user_command(
    info: Info[Context, Any], command: Callable[[str], Awaitable[UserView]]
) -> UserPayload:
    principal = authorize(info, Action.MANAGE_PEOPLE)
    try:
        view = await command(principal.tenant_id)
    except DomainError as error:
        return UserPayload(user=None, errors=[UserError.of(error)])
    return UserPayload(user=User.of(view), errors=[])


async def _team_command(
    info: Info[Context, Any], command: Callable[[str], Awaitable[TeamView]]
) -> TeamPayload:
    principal = authorize(info, Action.MANAGE_PEOPLE)
    try:
        view = await command(principal.tenant_id)
    except DomainError as error:
        return TeamPayload(team=None, errors=[UserError.of(error)])
    return TeamPayload(team=Team.of(view), errors=[])


async def create_user(info: Info[Context, Any], input: CreateUserInput) -> UserPayload:
    return await _user_command(
        info,
        lambda tenant_id: user_service.create_user(
            tenant_id=tenant_id,
            handle=input.handle,
            name=input.name,
            email=input.email,
            time_zone=input.time_zone,
            phone=input.phone,
            chat_ids=input.chat_ids,
        ),
    )


async def update_user(info: Info[Context, Any], input: UpdateUserInput) -> UserPayload:
    names = ("handle", "name", "email", "time_zone", "phone", "chat_ids")

    async def run(tenant_id: str) -> UserView:
        changes = given(input, names)
        for required in ("handle", "name", "email", "time_zone"):
            if changes.get(required, "") is None:
                field = "timeZone" if required == "time_zone" else required
                raise ValidationFailed(f"{field} cannot be null", field=field)
        return await user_service.update_user(
            tenant_id=tenant_id, user_id=user_key(input.id), changes=changes
        )

    return await _user_command(info, run)


async def deactivate_user(info: Info[Context, Any], input: DeactivateUserInput) -> UserPayload:
    return await _user_command(
        info,
        lambda tenant_id: user_service.deactivate_user(
            tenant_id=tenant_id, user_id=user_key(input.id)
        ),
    )


async def create_team(info: Info[Context, Any], input: CreateTeamInput) -> TeamPayload:
    return await _team_command(
        info,
        lambda tenant_id: team_service.create_team(
            tenant_id=tenant_id, name=input.name, tier=input.tier
        ),
    )


async def update_team(info: Info[Context, Any], input: UpdateTeamInput) -> TeamPayload:
    async def run(tenant_id: str) -> TeamView:
        changes = given(input, ("name", "tier"))
        if "name" in changes and changes["name"] is None:
            raise ValidationFailed("name cannot be null", field="name")
        return await team_service.update_team(
            tenant_id=tenant_id, team_id=team_key(input.id, field="teamId"), changes=changes
        )

    return await _team_command(info, run)


async def add_team_member(info: Info[Context, Any], input: TeamMemberInput) -> TeamPayload:
    return await _team_command(
        info,
        lambda tenant_id: team_service.add_member(
            tenant_id=tenant_id,
            team_id=team_key(input.team_id, field="teamId"),
            user_id=user_key(input.user_id, field="userId"),
            role=input.role,
        ),
    )


async def remove_team_member(info: Info[Context, Any], input: RemoveTeamMemberInput) -> TeamPayload:
    return await _team_command(
        info,
        lambda tenant_id: team_service.remove_member(
            tenant_id=tenant_id,
            team_id=team_key(input.team_id, field="teamId"),
            user_id=user_key(input.user_id, field="userId"),
        ),
    )
