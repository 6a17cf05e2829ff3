"""SCIM 2.0 provisioning (RFC 7643 resources, RFC 7644 operations) of users and teams.

What Okta and Entra ID send is mapped onto the people services, which validate and audit
as they do for GraphQL. A payload is checked whole before anything is written: an
unknown attribute, a missing core schema, a bad value or an unsupported PATCH path is a
`ScimError` (400, with SCIM's `scimType`), and nothing changes.

Users: `userName` is kept as given (often an e-mail) and answers `userName eq` filters;
the handle is derived from it once. `DELETE` deactivates (tokens revoked); `active: false`
does the same and `active: true` restores the user. Groups are teams: `displayName` is the
name, `members` the members.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q

from app.core.ids import parse_uuid
from app.errors import Conflict, DomainError, NotFound
from app.models import Team, TeamMember, User
from app.services.people import teams, users
from app.services.people.teams import TeamView
from app.services.people.users import UserView

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
COUNT_MAX = 500
COUNT_DEFAULT = 100

# The core User attributes (RFC 7643 section 4.1): accepted; those not stored are ignored.
_USER_ATTRIBUTES = {
    "schemas", "id", "externalid", "username", "name", "displayname", "nickname",
    "profileurl", "title", "usertype", "preferredlanguage", "locale", "timezone", "active",
    "password", "emails", "phonenumbers", "ims", "photos", "addresses", "groups",
    "entitlements", "roles", "x509certificates", "meta",
}  # fmt: skip
_GROUP_ATTRIBUTES = {"schemas", "id", "externalid", "displayname", "members", "meta"}
_FILTER = re.compile(r'^\s*([A-Za-z][\w.]*)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_MEMBER_PATH = re.compile(r'^members\s*\[\s*value\s+eq\s+"([^"]+)"\s*\]$', re.IGNORECASE)
_HANDLE_CHARS = re.compile(r"[^a-z0-9._-]+")


class ScimError(Exception):
    """An error in SCIM's own shape (RFC 7644 section 3.12)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body

    @classmethod
    def of(cls, error: DomainError) -> ScimError:
        if isinstance(error, NotFound):
            return cls(404, error.message)
        if isinstance(error, Conflict):
            return cls(409, error.message, "uniqueness")
        return cls(400, error.message, "invalidValue")


def _lower_keys(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in resource.items()}


def _require_schema(resource: Mapping[str, Any], schema: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(resource, Mapping):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    schemas = resource.get("schemas")
    if not isinstance(schemas, list) or schema not in schemas:
        raise ScimError(400, f"schemas must include {schema}", "invalidSyntax")
    extensions = {s for s in schemas if isinstance(s, str) and s != schema}
    unknown = sorted(k for k in resource if k.lower() not in known and k not in extensions)
    if unknown:
        raise ScimError(400, f"unknown attributes: {', '.join(unknown)}", "invalidSyntax")
    return _lower_keys(resource)


def _text(value: Any, attribute: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScimError(400, f"{attribute} must be a non-empty string", "invalidValue")
    return value


def _flag(value: Any, attribute: str) -> bool:
    # Entra ID sends booleans as the strings "True" and "False" in PATCH operations.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimError(400, f"{attribute} must be true or false", "invalidValue")


def _primary(values: Any, attribute: str) -> str | None:
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, Mapping) for v in values):
        raise ScimError(400, f"{attribute} must be a list of objects", "invalidValue")
    chosen = next((v for v in values if v.get("primary") is True), values[0] if values else None)
    if chosen is None:
        return None
    return _text(chosen.get("value"), f"{attribute}.value")


# --- users ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserFields:
    """What a SCIM User resource says, in our terms; None where it says nothing."""

    user_name: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    time_zone: str | None = None
    external_id: str | None = None
    active: bool | None = None

    def changes(self) -> dict[str, Any]:
        mapped = {
            "user_name": self.user_name,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "time_zone": self.time_zone,
            "external_id": self.external_id,
        }
        return {k: v for k, v in mapped.items() if v is not None}


def _name_of(attributes: Mapping[str, Any]) -> str | None:
    display = attributes.get("displayname")
    if isinstance(display, str) and display.strip():
        return display
    name = attributes.get("name")
    if isinstance(name, Mapping):
        name = _lower_keys(name)
        formatted = name.get("formatted")
        if isinstance(formatted, str) and formatted.strip():
            return formatted
        parts = [name.get("givenname"), name.get("familyname")]
        joined = " ".join(p for p in parts if isinstance(p, str) and p.strip())
        return joined or None
    if name is not None:
        raise ScimError(400, "name must be an object", "invalidValue")
    return None


def user_fields(resource: Mapping[str, Any], *, partial: bool = False) -> UserFields:
    """The fields of a User resource (POST, PUT, or a PATCH value without a path)."""
    attributes = (
        _lower_keys(resource)
        if partial
        else _require_schema(resource, USER_SCHEMA, _USER_ATTRIBUTES)
    )
    if partial:
        unknown = sorted(k for k in resource if k.lower() not in _USER_ATTRIBUTES)
        if unknown:
            raise ScimError(400, f"unknown attributes: {', '.join(unknown)}", "invalidPath")
    user_name = attributes.get("username")
    if user_name is None and not partial:
        raise ScimError(400, "userName is required", "invalidValue")
    email = _primary(attributes.get("emails"), "emails")
    if email is None and isinstance(user_name, str) and "@" in user_name and not partial:
        email = user_name
    active = attributes.get("active")
    external_id = attributes.get("externalid")
    time_zone = attributes.get("timezone")
    return UserFields(
        user_name=_text(user_name, "userName") if user_name is not None else None,
        name=_name_of(attributes),
        email=email,
        phone=_primary(attributes.get("phonenumbers"), "phoneNumbers"),
        time_zone=_text(time_zone, "timezone") if time_zone is not None else None,
        external_id=_text(external_id, "externalId") if external_id is not None else None,
        active=_flag(active, "active") if active is not None else None,
    )


def handle_for(user_name: str) -> str:
    """A handle from a userName: itself when it is one, else its e-mail local part."""
    base = _HANDLE_CHARS.sub("-", user_name.split("@")[0].lower()).strip("-._")[:56]
    return base or "user"


def user_resource(
    view: UserView, team_refs: Sequence[tuple[str, str]], base: str
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": view.id,
        "userName": view.user_name or view.handle,
        "name": {"formatted": view.name},
        "displayName": view.name,
        "emails": [{"value": view.email, "type": "work", "primary": True}],
        "timezone": view.time_zone,
        "active": view.active,
        "groups": [{"value": team_id, "display": name} for team_id, name in team_refs],
        "meta": {
            "resourceType": "User",
            "created": view.created_at.isoformat(),
            "lastModified": view.updated_at.isoformat(),
            "location": f"{base}/Users/{view.id}",
        },
    }
    if view.external_id is not None:
        resource["externalId"] = view.external_id
    if view.phone is not None:
        resource["phoneNumbers"] = [{"value": view.phone, "type": "work"}]
    return resource


def parse_filter(text: str | None, attributes: Mapping[str, str]) -> tuple[str, str] | None:
    """`attr eq "value"` as (our field, value); the only filter Okta and Entra ID send."""
    if text is None or not text.strip():
        return None
    match = _FILTER.match(text)
    if match is None or match.group(1).lower() not in attributes:
        known = ", ".join(f'{a} eq "..."' for a in attributes)
        raise ScimError(400, f"unsupported filter {text!r}; supported: {known}", "invalidFilter")
    value = match.group(2).replace('\\"', '"').replace("\\\\", "\\")
    return attributes[match.group(1).lower()], value


USER_FILTERS = {"username": "user_name", "externalid": "external_id", "emails.value": "email"}
GROUP_FILTERS = {"displayname": "name", "externalid": "external_id"}


def page_of(start_index: str | None, count: str | None) -> tuple[int, int]:
    try:
        start = max(int(start_index or 1), 1)
        size = min(max(int(count if count is not None else COUNT_DEFAULT), 0), COUNT_MAX)
    except ValueError:
        raise ScimError(400, "startIndex and count must be integers", "invalidValue") from None
    return start, size


async def list_users(
    *, tenant_id: str, filter: str | None, start: int, count: int
) -> tuple[int, list[UserView]]:
    query = User.filter(tenant_id=tenant_id)
    found = parse_filter(filter, USER_FILTERS)
    if found is not None:
        field, value = found
        if field == "user_name":
            query = query.filter(
                Q(user_name=value) | Q(user_name__isnull=True, handle=value.lower())
            )
        elif field == "email":
            query = query.filter(email=value.strip().lower())
        else:
            query = query.filter(external_id=value)
    total = await query.count()
    rows = await query.order_by("handle").offset(start - 1).limit(count) if count else []
    return total, [UserView.of(r) for r in rows]


async def find_user(tenant_id: str, user_id: str) -> UserView:
    key = parse_uuid(user_id)
    row = await User.get_or_none(tenant_id=tenant_id, id=key) if key else None
    if row is None:
        raise ScimError(404, f"no user {user_id!r}")
    return UserView.of(row)


async def _refuse_taken_user_name(tenant_id: str, user_name: str, except_id: str | None) -> None:
    total, found = await list_users(
        tenant_id=tenant_id, filter=f'userName eq "{_quoted(user_name)}"', start=1, count=1
    )
    if total and (except_id is None or found[0].id != except_id):
        raise ScimError(409, f"userName {user_name!r} is taken", "uniqueness")


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


async def create_user(*, tenant_id: str, fields: UserFields) -> UserView:
    assert fields.user_name is not None
    if fields.email is None:
        raise ScimError(
            400, "an e-mail is required (emails, or an e-mail as userName)", "invalidValue"
        )
    await _refuse_taken_user_name(tenant_id, fields.user_name, None)
    base = handle_for(fields.user_name)
    handle = base
    for n in range(2, 100):
        if not await User.exists(tenant_id=tenant_id, handle=handle):
            break
        handle = f"{base}-{n}"
    try:
        view = await users.create_user(
            tenant_id=tenant_id,
            handle=handle,
            name=fields.name or fields.user_name,
            email=fields.email,
            time_zone=fields.time_zone or "UTC",
            phone=fields.phone,
            user_name=fields.user_name,
            external_id=fields.external_id,
        )
        if fields.active is False:
            view = await users.deactivate_user(tenant_id=tenant_id, user_id=view.id)
    except DomainError as error:
        raise ScimError.of(error) from None
    return view


async def update_user(*, tenant_id: str, user_id: str, fields: UserFields) -> UserView:
    """Apply what `fields` says (a PUT says everything, a PATCH some)."""
    view = await find_user(tenant_id, user_id)
    if fields.user_name is not None:
        await _refuse_taken_user_name(tenant_id, fields.user_name, view.id)
    try:
        changes = fields.changes()
        if changes:
            view = await users.update_user(tenant_id=tenant_id, user_id=view.id, changes=changes)
        if fields.active is False:
            view = await users.deactivate_user(tenant_id=tenant_id, user_id=view.id)
        elif fields.active is True:
            view = await users.reactivate_user(tenant_id=tenant_id, user_id=view.id)
    except DomainError as error:
        raise ScimError.of(error) from None
    return view


def patch_operations(body: Mapping[str, Any]) -> list[tuple[str, str | None, Any]]:
    """(op, path, value) of a PatchOp body, ops lower-cased."""
    if not isinstance(body, Mapping) or PATCH_SCHEMA not in (body.get("schemas") or []):
        raise ScimError(400, f"schemas must include {PATCH_SCHEMA}", "invalidSyntax")
    operations = _lower_keys(body).get("operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "Operations must be a non-empty list", "invalidSyntax")
    found = []
    for operation in operations:
        if not isinstance(operation, Mapping):
            raise ScimError(400, "each operation must be an object", "invalidSyntax")
        operation = _lower_keys(operation)
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "replace", "remove"):
            raise ScimError(400, f"op must be add, replace or remove, not {op!r}", "invalidSyntax")
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise ScimError(400, "path must be a string", "invalidPath")
        found.append((op, path, operation.get("value")))
    return found


# PATCH paths on a User and the resource attribute each one sets.
_USER_PATHS = {
    "active": "active",
    "username": "userName",
    "displayname": "displayName",
    "externalid": "externalId",
    "timezone": "timezone",
    "name.formatted": "displayName",
    'emails[type eq "work"].value': "emails",
    "emails": "emails",
    'phonenumbers[type eq "work"].value': "phoneNumbers",
    "phonenumbers": "phoneNumbers",
}


def user_patch(body: Mapping[str, Any]) -> UserFields:
    """A User PatchOp as the fields it changes; every operation is checked first."""
    merged: dict[str, Any] = {}
    for op, path, value in patch_operations(body):
        if op == "remove":
            raise ScimError(400, "user attributes cannot be removed, only replaced", "mutability")
        if path is None:
            if not isinstance(value, Mapping):
                raise ScimError(
                    400, "an operation without a path needs an object value", "invalidValue"
                )
            merged.update(value)
            continue
        attribute = _USER_PATHS.get(path.strip().lower())
        if attribute is None:
            raise ScimError(400, f"unsupported path {path!r}", "invalidPath")
        if attribute in ("emails", "phoneNumbers") and not isinstance(value, list):
            value = [{"value": value, "primary": True}]
        merged[attribute] = value
    return user_fields(merged, partial=True)


# --- groups ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupFields:
    name: str | None = None
    external_id: str | None = None
    members: list[str] | None = None


def _member_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(m, Mapping) for m in value):
        raise ScimError(400, "members must be a list of {value: user id}", "invalidValue")
    return [_text(m.get("value"), "members.value") for m in value]


def group_fields(resource: Mapping[str, Any]) -> GroupFields:
    attributes = _require_schema(resource, GROUP_SCHEMA, _GROUP_ATTRIBUTES)
    members = attributes.get("members")
    external_id = attributes.get("externalid")
    return GroupFields(
        name=_text(attributes.get("displayname"), "displayName"),
        external_id=_text(external_id, "externalId") if external_id is not None else None,
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


async def teams_of(user_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Each user's (team id, name), by name: one query for all."""
    rows = (
        await TeamMember.filter(user_id__in=list(user_ids))
        .order_by("team__name_key")
        .values("user_id", "team_id", "team__name")
    )
    found: dict[str, list[tuple[str, str]]] = {u: [] for u in user_ids}
    for r in rows:
        found[str(r["user_id"])].append((str(r["team_id"]), r["team__name"]))
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
            changes["name"] = _text(value, "displayName")
        elif lowered == "externalid" and op != "remove":
            changes["external_id"] = _text(value, "externalId")
        elif path is None and op in ("add", "replace") and isinstance(value, Mapping):
            attributes = _lower_keys(value)
            unknown = sorted(k for k in value if k.lower() not in _GROUP_ATTRIBUTES)
            if unknown:
                raise ScimError(400, f"unknown attributes: {', '.join(unknown)}", "invalidPath")
            if "displayname" in attributes:
                changes["name"] = _text(attributes["displayname"], "displayName")
            if "externalid" in attributes:
                changes["external_id"] = _text(attributes["externalid"], "externalId")
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
