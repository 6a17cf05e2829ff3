"""Users: the people of a tenant, by handle and e-mail, each unique within the tenant.

A user is never deleted: deactivating keeps their name on the timelines and audit records
they appear in. Every change is audited in the transaction that makes it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.core.clock import utcnow
from app.core.ids import parse_uuid, uuid_key
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.core.text import filter_text, storable
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import TeamMember, Tenant, User
from app.services.access import audit, quotas, tokens

HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# Deliberately loose: one @, something on each side, a dot in the domain, no spaces.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ().-]{3,32}$")
NAME_MAX = 255
CHAT_IDS_MAX = 10


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    handle: str
    name: str
    email: str
    time_zone: str
    phone: str | None
    chat_ids: dict[str, str]
    active: bool
    created_at: datetime
    updated_at: datetime
    user_name: str | None = None
    external_id: str | None = None

    @classmethod
    def of(cls, row: User) -> UserView:
        return cls(
            id=str(row.id),
            handle=row.handle,
            name=row.name,
            email=row.email,
            time_zone=row.time_zone,
            phone=row.phone,
            chat_ids=dict(row.chat_ids),
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
            user_name=row.user_name,
            external_id=row.external_id,
        )


@dataclass(frozen=True, slots=True)
class UserFilter:
    text: str | None = None
    active: bool | None = None
    team_id: str | None = None


@dataclass(frozen=True, slots=True)
class UserPage:
    items: list[tuple[str, UserView]]
    has_next_page: bool
    has_previous_page: bool
    total: int = field(default=0)


# --- validation -----------------------------------------------------------------------------


def handle_of(value: str) -> str:
    handle = storable(value, field="handle").strip().lstrip("@").lower()
    if not HANDLE.match(handle):
        raise ValidationFailed(
            "handle must be 1 to 64 lower-case letters, digits, '.', '_' or '-', starting "
            "with a letter or digit",
            field="handle",
        )
    return handle


def email_of(value: str) -> str:
    email = storable(value, field="email").strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        raise ValidationFailed("email must be an e-mail address", field="email")
    return email


def name_of(value: str, *, field: str = "name") -> str:
    name = " ".join(storable(value, field=field).split())
    if not name:
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"{field} must be at most {NAME_MAX} characters", field=field)
    return name


def time_zone_of(value: str) -> str:
    zone = storable(value, field="timeZone").strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"timeZone {zone!r} is not an IANA time zone (e.g. Europe/Berlin)", field="timeZone"
        ) from None
    return zone


def phone_of(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    phone = storable(value, field="phone").strip()
    if not PHONE.match(phone):
        raise ValidationFailed("phone must be a telephone number (+49 30 1234567)", field="phone")
    return phone


def chat_ids_of(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > CHAT_IDS_MAX:
        raise ValidationFailed(
            f"chatIds must be an object of at most {CHAT_IDS_MAX} system: id pairs",
            field="chatIds",
        )
    ids: dict[str, str] = {}
    for system, chat_id in value.items():
        if not isinstance(system, str) or not isinstance(chat_id, str):
            raise ValidationFailed("chatIds values must be strings", field="chatIds")
        key = storable(system, field="chatIds").strip().lower()
        ident = storable(chat_id, field="chatIds").strip()
        if not key or not ident or len(key) > 32 or len(ident) > 255:
            raise ValidationFailed(
                "chatIds entries must be short, non-empty strings", field="chatIds"
            )
        ids[key] = ident
    return ids


def provider_id_of(value: str | None, *, field: str, longest: int) -> str | None:
    """An identity provider's name or id for someone: kept as given, trimmed."""
    if value is None:
        return None
    text = storable(value, field=field).strip()
    if not text or len(text) > longest:
        raise ValidationFailed(f"{field} must be 1 to {longest} characters", field=field)
    return text


# --- commands -------------------------------------------------------------------------------


async def create_user(
    *,
    tenant_id: str,
    handle: str,
    name: str,
    email: str,
    time_zone: str = "UTC",
    phone: str | None = None,
    chat_ids: object = None,
    user_name: str | None = None,
    external_id: str | None = None,
) -> UserView:
    handle, email = handle_of(handle), email_of(email)
    values: dict[str, Any] = {
        "handle": handle,
        "name": name_of(name),
        "email": email,
        "time_zone": time_zone_of(time_zone),
        "phone": phone_of(phone),
        "chat_ids": chat_ids_of(chat_ids),
    }
    if user_name is not None:
        values["user_name"] = provider_id_of(user_name, field="userName", longest=320)
    if external_id is not None:
        values["external_id"] = provider_id_of(external_id, field="externalId", longest=255)
    if not await Tenant.exists(id=tenant_id):
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    await _refuse_duplicates(tenant_id, handle, email, except_id=None)
    await quotas.require_room(tenant_id, "users")
    now = utcnow()
    try:
        async with in_transaction():
            row = await User.create(
                id=uuid.uuid4(), tenant_id=tenant_id, created_at=now, updated_at=now, **values
            )
            await audit.record(
                tenant_id=tenant_id, action="user.create", target=str(row.id), changes=values
            )
    except IntegrityError:
        await _refuse_duplicates(tenant_id, handle, email, except_id=None)
        raise
    return UserView.of(row)


async def update_user(*, tenant_id: str, user_id: str, changes: Mapping[str, Any]) -> UserView:
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "handle":
            clean[key] = handle_of(value)
        elif key == "name":
            clean[key] = name_of(value)
        elif key == "email":
            clean[key] = email_of(value)
        elif key == "time_zone":
            clean[key] = time_zone_of(value)
        elif key == "phone":
            clean[key] = phone_of(value)
        elif key == "chat_ids":
            clean[key] = chat_ids_of(value)
        elif key == "user_name":
            clean[key] = provider_id_of(value, field="userName", longest=320)
        elif key == "external_id":
            clean[key] = provider_id_of(value, field="externalId", longest=255)
        else:
            raise ValidationFailed(f"{key} cannot be changed with updateUser", field=key)
    row = await _get(tenant_id, user_id)
    await _refuse_duplicates(
        tenant_id, clean.get("handle"), clean.get("email"), except_id=str(row.id)
    )
    diff = {k: {"from": getattr(row, k), "to": v} for k, v in clean.items() if getattr(row, k) != v}
    if not diff:
        return UserView.of(row)
    for key, value in clean.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    try:
        async with in_transaction():
            await row.save(update_fields=[*clean, "updated_at"])
            await audit.record(
                tenant_id=tenant_id, action="user.update", target=str(row.id), changes=diff
            )
    except IntegrityError:
        await _refuse_duplicates(
            tenant_id, clean.get("handle"), clean.get("email"), except_id=str(row.id)
        )
        raise
    return UserView.of(row)


async def deactivate_user(*, tenant_id: str, user_id: str) -> UserView:
    """The user stays on every record they appear in; they are no longer active.

    Their tokens are revoked in the same transaction, and their open WebSockets close at
    the next token check (within seconds).
    """
    row = await _get(tenant_id, user_id)
    if not row.active:
        return UserView.of(row)
    row.active, row.updated_at = False, utcnow()
    async with in_transaction():
        await row.save(update_fields=["active", "updated_at"])
        await audit.record(
            tenant_id=tenant_id,
            action="user.deactivate",
            target=str(row.id),
            changes={"active": {"from": True, "to": False}},
        )
        await tokens.revoke_user_tokens(tenant_id=tenant_id, user_id=str(row.id))
    return UserView.of(row)


async def reactivate_user(*, tenant_id: str, user_id: str) -> UserView:
    """Active again (an identity provider restoring someone); their old tokens stay revoked."""
    row = await _get(tenant_id, user_id)
    if row.active:
        return UserView.of(row)
    row.active, row.updated_at = True, utcnow()
    async with in_transaction():
        await row.save(update_fields=["active", "updated_at"])
        await audit.record(
            tenant_id=tenant_id,
            action="user.reactivate",
            target=str(row.id),
            changes={"active": {"from": False, "to": True}},
        )
    return UserView.of(row)


# --- reads ----------------------------------------------------------------------------------


async def get_users(*, tenant_id: str, user_ids: Sequence[str]) -> dict[str, UserView]:
    keys = [k for k in (parse_uuid(v) for v in user_ids) if k is not None]
    rows = await User.filter(tenant_id=tenant_id, id__in=keys) if keys else []
    return {str(r.id): UserView.of(r) for r in rows}


async def active_user(*, tenant_id: str, user_id: str, field: str = "userId") -> UserView:
    """The user, to be given something (an incident, a role, a task): NOT_FOUND when the
    tenant has no such user, VALIDATION when they are deactivated."""
    user = (await get_users(tenant_id=tenant_id, user_ids=[user_id])).get(user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id!r}", field=field)
    if not user.active:
        raise ValidationFailed(
            f"user {user.handle!r} is deactivated and cannot be assigned", field=field
        )
    return user


async def users_by_handle(*, tenant_id: str, handles: Sequence[str]) -> dict[str, UserView]:
    """The tenant's users among `handles` (given with or without '@', in any case)."""
    wanted = {h.strip().lstrip("@").lower() for h in handles}
    rows = await User.filter(tenant_id=tenant_id, handle__in=sorted(wanted)) if wanted else []
    return {r.handle: UserView.of(r) for r in rows}


async def user_by_handle(*, tenant_id: str, handle: str, field: str = "user") -> UserView:
    found = await users_by_handle(tenant_id=tenant_id, handles=[handle])
    if not found:
        raise NotFound(f"no user with handle {handle!r} in tenant {tenant_id!r}", field=field)
    return next(iter(found.values()))


async def list_users(
    *,
    tenant_id: str,
    filter: UserFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> UserPage:
    """Users by handle, `first` at a time after the cursor."""
    size = page_size(first)
    query = User.filter(tenant_id=tenant_id)
    if filter is not None:
        query = query.filter(_filter_q(filter))
    if after is not None:
        query = query.filter(handle__gt=decode_key_cursor("user", after))
    rows = await query.order_by("handle").limit(size + 1)
    items = [(encode_key_cursor("user", r.handle), UserView.of(r)) for r in rows[:size]]
    return UserPage(items, has_next_page=len(rows) > size, has_previous_page=after is not None)


async def count_users(*, tenant_id: str, filter: UserFilter | None = None) -> int:
    query = User.filter(tenant_id=tenant_id)
    if filter is not None:
        query = query.filter(_filter_q(filter))
    return await query.count()


def _filter_q(filter: UserFilter) -> Q:
    q = Q()
    if filter.text is not None:
        text = filter_text(filter.text)
        if text:
            q &= Q(handle__icontains=text) | Q(name__icontains=text) | Q(email__icontains=text)
    if filter.active is not None:
        q &= Q(active=filter.active)
    if filter.team_id is not None:
        team = parse_uuid(filter.team_id)
        q &= Q(memberships__team_id=team) if team is not None else Q(id=None)
    return q


async def _get(tenant_id: str, user_id: str) -> User:
    row = await User.get_or_none(tenant_id=tenant_id, id=uuid_key(user_id, noun="user"))
    if row is None:
        raise NotFound(f"no user with id {user_id!r}", field="id")
    return row


async def _refuse_duplicates(
    tenant_id: str, handle: str | None, email: str | None, *, except_id: str | None
) -> None:
    for name, value in (("handle", handle), ("email", email)):
        if value is None:
            continue
        query = User.filter(tenant_id=tenant_id, **{name: value})
        if except_id is not None:
            query = query.exclude(id=except_id)
        if await query.exists():
            raise Conflict(f"a user with {name} {value!r} already exists", field=name)


async def memberships_of(*, user_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each user's team ids."""
    rows = await TeamMember.filter(user_id__in=list(user_ids)).values("user_id", "team_id")
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(str(row["user_id"]), []).append(str(row["team_id"]))
    return found
