"""SCIM Users: what Okta and Entra ID send, mapped onto the people services.

`userName` is kept as given (often an e-mail) and answers `userName eq` filters; the handle
is derived from it once. `DELETE` deactivates (tokens revoked); `active: false` does the
same and `active: true` restores the user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q

from app.core.ids import parse_uuid
from app.errors import DomainError
from app.models import TeamMember, User
from app.services.people import users
from app.services.people.scim.protocol import (
    USER_FILTERS,
    USER_SCHEMA,
    ScimError,
    flag,
    lower_keys,
    parse_filter,
    patch_operations,
    primary,
    require_schema,
    text_of,
)
from app.services.people.users import UserView

# The core User attributes (RFC 7643 section 4.1): accepted; those not stored are ignored.
_USER_ATTRIBUTES = {
    "schemas", "id", "externalid", "username", "name", "displayname", "nickname",
    "profileurl", "title", "usertype", "preferredlanguage", "locale", "timezone", "active",
    "password", "emails", "phonenumbers", "ims", "photos", "addresses", "groups",
    "entitlements", "roles", "x509certificates", "meta",
}  # fmt: skip
_HANDLE_CHARS = re.compile(r"[^a-z0-9._-]+")


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
        name = lower_keys(name)
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
        lower_keys(resource) if partial else require_schema(resource, USER_SCHEMA, _USER_ATTRIBUTES)
    )
    if partial:
        unknown = sorted(k for k in resource if k.lower() not in _USER_ATTRIBUTES)
        if unknown:
            raise ScimError(400, f"unknown attributes: {', '.join(unknown)}", "invalidPath")
    user_name = attributes.get("username")
    if user_name is None and not partial:
        raise ScimError(400, "userName is required", "invalidValue")
    email = primary(attributes.get("emails"), "emails")
    if email is None and isinstance(user_name, str) and "@" in user_name and not partial:
        email = user_name
    active = attributes.get("active")
    external_id = attributes.get("externalid")
    time_zone = attributes.get("timezone")
    return UserFields(
        user_name=text_of(user_name, "userName") if user_name is not None else None,
        name=_name_of(attributes),
        email=email,
        phone=primary(attributes.get("phonenumbers"), "phoneNumbers"),
        time_zone=text_of(time_zone, "timezone") if time_zone is not None else None,
        external_id=text_of(external_id, "externalId") if external_id is not None else None,
        active=flag(active, "active") if active is not None else None,
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
