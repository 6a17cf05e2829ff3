"""SCIM Groups are teams: `displayName` is the name, `members` the members."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.ids import parse_uuid
from app.errors import DomainError
from app.models import Team, TeamMember, User
from app.services.people import teams
from app.services.people.scim.protocol import (
    GROUP_FILTERS,
    GROUP_SCHEMA,
    ScimError,
    lower_keys,
    parse_filter,
    patch_operations,
    require_schema,
    text_of,
)
from app.services.people.teams import TeamView

_GROUP_ATTRIBUTES = {"schemas", "id", "externalid", "displayname", "members", "meta"}
_MEMBER_PATH = re.compile(r'^members\s*\[\s*value\s+eq\s+"([^"]+)"\s*\]$', re.IGNORECASE)


# --- groups ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupFields:
    name: str | None = None
    external_id: str | None = None
    members: list[str] | None = None


def _member_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(m, Mapping) for m in value):
        raise ScimError(400, "members must be a list of {value: user id}", "invalidValue")
    return [text_of(m.get("value"), "members.value") for m in value]


def group_fields(resource: Mapping[str, Any]) -> GroupFields:
    attributes = require_schema(resource, GROUP_SCHEMA, _GROUP_ATTRIBUTES)
    members = attributes.get("members")
    external_id = attributes.get("externalid")
    return GroupFields(
        name=text_of(attributes.get("displayname"), "displayName"),
        external_id=text_of(external_id, "externalId") if external_id is not None else None,
        members=_member_ids(members) if members is not None else [],
    )


def group_resource(view: TeamView, members: Sequence[tuple[str, str]], base: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": view.id,
        "displayName": view.name,
        "members": [{"value": user_id, "display": handle} for user_id, handle in members],
        "meta": {
            "resourceType": "Group",
            "created": view.created_at.isoformat(),
            "lastModified": view.updated_at.isoformat(),
            "location": f"{base}/Groups/{view.id}",
        },
    }
    if view.external_id is not None:
        resource["externalId"] = view.external_id
    return resource


async def list_groups(
    *, tenant_id: str, filter: str | None, start: int, count: int
) -> tuple[int, list[TeamView]]:
    query = Team.filter(tenant_id=tenant_id)
    found = parse_filter(filter, GROUP_FILTERS)
    if found is not None:
        field, value = found
        query = (
            query.filter(name_key=value.lower())
            if field == "name"
            else query.filter(external_id=value)
        )
    total = await query.count()
    rows = await query.order_by("name_key").offset(start - 1).limit(count) if count else []
    return total, [TeamView.of(r) for r in rows]


async def find_group(tenant_id: str, team_id: str) -> TeamView:
    key = parse_uuid(team_id)
    row = await Team.get_or_none(tenant_id=tenant_id, id=key) if key else None
    if row is None:
        raise ScimError(404, f"no group {team_id!r}")
    return TeamView.of(row)


async def members_of(team_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Each team's (user id, handle), in the order they joined: one query for all."""
    rows = (
        await TeamMember.filter(team_id__in=list(team_ids))
        .order_by("added_at", "id")
        .values("team_id", "user_id", "user__handle")
    )
    found: dict[str, list[tuple[str, str]]] = {t: [] for t in team_ids}
    for r in rows:
        found[str(r["team_id"])].append((str(r["user_id"]), r["user__handle"]))
    return found


async def _known_users(tenant_id: str, user_ids: Sequence[str]) -> list[str]:
    keys = [parse_uuid(u) for u in user_ids]
    if any(k is None for k in keys):
        raise ScimError(400, "members.value must be user ids", "invalidValue")
    found = {
        str(k)
        for k in await User.filter(tenant_id=tenant_id, id__in=keys).values_list("id", flat=True)
    }
    missing = [u for u, k in zip(user_ids, keys, strict=True) if str(k) not in found]
    if missing:
        raise ScimError(400, f"no user {missing[0]!r}", "invalidValue")
    return [str(k) for k in keys]


async def set_members(
    tenant_id: str,
    team_id: str,
    wanted: Sequence[str],
    *,
    add_only: bool = False,
    remove: Sequence[str] = (),
) -> None:
    """Make the team's members `wanted`; with `add_only`, add them and take off `remove`."""
    current = {u for u, _ in (await members_of([team_id]))[team_id]}
    target = set(await _known_users(tenant_id, wanted))
    gone = set(await _known_users(tenant_id, remove)) if remove else set()
    to_add = sorted(target - current)
    to_remove = sorted(gone & current) if add_only or remove else sorted(current - target)
    try:
        for user_id in to_add:
            await teams.add_member(tenant_id=tenant_id, team_id=team_id, user_id=user_id)
        for user_id in to_remove:
            await teams.remove_member(tenant_id=tenant_id, team_id=team_id, user_id=user_id)
    except DomainError as error:
        raise ScimError.of(error) from None


async def create_group(*, tenant_id: str, fields: GroupFields) -> TeamView:
    assert fields.name is not None
    members = await _known_users(tenant_id, fields.members or [])
    try:
        view = await teams.create_team(
            tenant_id=tenant_id, name=fields.name, external_id=fields.external_id
        )
    except DomainError as error:
        raise ScimError.of(error) from None
    await set_members(tenant_id, view.id, members)
    return view


async def replace_group(*, tenant_id: str, team_id: str, fields: GroupFields) -> TeamView:
    view = await find_group(tenant_id, team_id)
    members = await _known_users(tenant_id, fields.members or [])
    try:
        view = await teams.update_team(
            tenant_id=tenant_id,
            team_id=view.id,
            changes={"name": fields.name, "external_id": fields.external_id},
        )
    except DomainError as error:
        raise ScimError.of(error) from None
    await set_members(tenant_id, view.id, members)
    return view


async def patch_group(*, tenant_id: str, team_id: str, body: Mapping[str, Any]) -> TeamView:
    view = await find_group(tenant_id, team_id)
    add: list[str] = []
    remove: list[str] = []
    replace_members: list[str] | None = None
    changes: dict[str, Any] = {}
    for op, path, value in patch_operations(body):
        lowered = (path or "").strip().lower()
        single = _MEMBER_PATH.match(lowered) if path else None
        if op == "remove" and single is not None:
            remove.append(single.group(1))
        elif lowered == "members" and op in ("add", "remove"):
            (add if op == "add" else remove).extend(_member_ids(value))
        elif lowered == "members" and op == "replace":
            replace_members = _member_ids(value)
        elif lowered == "displayname" and op != "remove":
            changes["name"] = text_of(value, "displayName")
        elif lowered == "externalid" and op != "remove":
            changes["external_id"] = text_of(value, "externalId")
        elif path is None and op in ("add", "replace") and isinstance(value, Mapping):
            attributes = lower_keys(value)
            unknown = sorted(k for k in value if k.lower() not in _GROUP_ATTRIBUTES)
            if unknown:
                raise ScimError(400, f"unknown attributes: {', '.join(unknown)}", "invalidPath")
            if "displayname" in attributes:
                changes["name"] = text_of(attributes["displayname"], "displayName")
            if "externalid" in attributes:
                changes["external_id"] = text_of(attributes["externalid"], "externalId")
            if "members" in attributes:
                if op == "add":
                    add.extend(_member_ids(attributes["members"]))
                else:
                    replace_members = _member_ids(attributes["members"])
        else:
            raise ScimError(400, f"unsupported operation {op} on {path!r}", "invalidPath")
    # Every id is checked before anything changes.
    await _known_users(tenant_id, [*add, *remove, *(replace_members or [])])
    try:
        if changes:
            view = await teams.update_team(tenant_id=tenant_id, team_id=view.id, changes=changes)
    except DomainError as error:
        raise ScimError.of(error) from None
    if replace_members is not None:
        await set_members(tenant_id, view.id, replace_members)
    if add or remove:
        await set_members(tenant_id, view.id, add, add_only=True, remove=remove)
    return view


async def delete_group(*, tenant_id: str, team_id: str) -> None:
    view = await find_group(tenant_id, team_id)
    await teams.delete_team(tenant_id=tenant_id, team_id=view.id)
