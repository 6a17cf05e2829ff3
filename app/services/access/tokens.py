"""API tokens: created once, stored hashed, resolved to a principal on every request."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.core.clock import utcnow
from app.core.ids import parse_uuid
from app.core.pagination import page_size
from app.core.text import storable
from app.errors import Forbidden, NotFound, ValidationFailed
from app.models import ApiToken, Classification, Role, Tenant, User
from app.services.access import audit
from app.services.access.caller import USER_ACTOR_PREFIX, user_actor
from app.services.access.classification import ROLE_CLEARANCE, reaches
from app.services.access.permissions import may_issue

TOKEN_PREFIX = "igt_"
_CACHE_SECONDS = 5.0
_CACHE_MAX = 10_000


class Unauthenticated(Exception):
    """No credentials, or credentials that do not name a live token."""


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    tenant_id: str
    role: Role
    name: str
    clearance: Classification
    # The user the token acts as; None for a service token.
    user_id: str | None = None

    @property
    def actor(self) -> str:
        """Who acts: the user's id when the token is a person's, else the service's name."""
        if self.user_id is not None:
            return user_actor(self.user_id)
        # Names that look like a user's id are refused when issued; an older one is marked.
        if self.name.lower().startswith(USER_ACTOR_PREFIX):
            return "service:" + self.name
        return self.name


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who issues a token: the new token may do and read no more than they may."""

    role: Role
    clearance: Classification

    @classmethod
    def of(cls, principal: Principal) -> Issuer:
        return cls(role=principal.role, clearance=principal.clearance)


# The command line and start-up: whoever holds the database's credentials holds every token.
OPERATOR = Issuer(role=Role.ADMIN, clearance=Classification.RESTRICTED)


def issuable_clearance(
    issuer: Issuer, role: Role, clearance: Classification | None
) -> Classification | None:
    """The clearance a token issued by `issuer` gets, or None when the one asked for is above
    the issuer's. Asked for none, the role's default, capped at the issuer's clearance."""
    if clearance is None:
        default = ROLE_CLEARANCE[role]
        return default if reaches(issuer.clearance, default) else issuer.clearance
    return clearance if reaches(issuer.clearance, clearance) else None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What may be shown about a token: never its secret or hash."""

    id: str
    tenant_id: str
    name: str
    role: Role
    clearance: Classification
    created_at: datetime
    revoked_at: datetime | None
    user_id: str | None = None

    @classmethod
    def from_model(cls, row: ApiToken) -> TokenRecord:
        return cls(
            id=str(row.id),
            tenant_id=row.tenant_id,
            name=row.name,
            role=row.role,
            clearance=clearance_of(row),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            user_id=str(row.user_id) if row.user_id is not None else None,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: TokenRecord
    secret: str


@dataclass(frozen=True, slots=True)
class TokenPage:
    items: list[tuple[str, TokenRecord]]
    has_next_page: bool
    has_previous_page: bool


def clearance_of(row: ApiToken) -> Classification:
    return row.clearance or ROLE_CLEARANCE[row.role]


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_token(
    *,
    issuer: Issuer,
    tenant_id: str,
    role: Role,
    name: str | None,
    secret: str | None = None,
    clearance: Classification | None = None,
    user_id: str | None = None,
) -> IssuedToken:
    """Create a token; its secret is returned here once, and neither stored nor shown again.

    `clearance` overrides the role's default clearance (ROLE_CLEARANCE), up or down: a
    security team's RESPONDER tokens may read RESTRICTED incidents, a contractor's may not.
    Nobody issues a token above themselves: a role that may do more than the issuer's, or a
    clearance above the issuer's, is FORBIDDEN; left out, the clearance is the role's default
    capped at the issuer's (an ADMIN cleared INTERNAL issues ADMIN tokens cleared INTERNAL).

    With `user_id` the token acts as that active user of the tenant, and its name defaults to
    the user's handle; without, it is a service token and needs a name.
    """
    if not may_issue(issuer.role, role):
        raise Forbidden(
            f"role {issuer.role} may not issue a {role} token: it may do more", field="role"
        )
    granted = issuable_clearance(issuer, role, clearance)
    if granted is None:
        raise Forbidden(
            f"your clearance ({issuer.clearance}) does not reach {clearance}: nobody issues "
            "a token cleared above their own",
            field="clearance",
        )
    if not await Tenant.exists(id=tenant_id):
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    user = await _token_user(tenant_id, user_id) if user_id is not None else None
    if name is None and user is not None:
        name = user.handle
    name = storable(name or "", field="name").strip()
    if not name or len(name) > 255:
        raise ValidationFailed(
            "token name must be 1 to 255 characters (a service token needs one)", field="name"
        )
    if user is None and name.lower().startswith(USER_ACTOR_PREFIX):
        # A service token acts under its name: this one would pass for a person's id.
        raise ValidationFailed(
            f"a service token's name may not begin with {USER_ACTOR_PREFIX!r} (user ids do)",
            field="name",
        )
    secret = secret or TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with in_transaction():
        row = await ApiToken.create(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            user_id=user.id if user is not None else None,
            role=role,
            name=name,
            token_hash=hash_token(secret),
            # Left unset when the role's default was taken as it is: the token follows its role.
            clearance=None if clearance is None and granted is ROLE_CLEARANCE[role] else granted,
        )
        await audit.record(
            tenant_id=tenant_id,
            action="token.created",
            target=str(row.id),
            changes={
                "name": name,
                "role": role.value,
                "clearance": clearance_of(row).value,
                **({"user": user_actor(str(user.id))} if user is not None else {}),
            },
        )
    return IssuedToken(token=TokenRecord.from_model(row), secret=secret)


async def _token_user(tenant_id: str, user_id: str) -> User:
    key = parse_uuid(user_id)
    user = await User.get_or_none(tenant_id=tenant_id, id=key) if key is not None else None
    if user is None:
        raise NotFound(f"no user with id {user_id!r}", field="userId")
    if not user.active:
        raise ValidationFailed(
            f"user {user.handle!r} is deactivated: a deactivated user holds no token",
            field="userId",
        )
    return user


async def create_token(
    *,
    issuer: Issuer,
    tenant_id: str,
    role: Role,
    name: str | None,
    secret: str | None = None,
    clearance: Classification | None = None,
    user_id: str | None = None,
) -> str:
    """Create a token and return its secret, which is not stored and cannot be shown again."""
    issued = await issue_token(
        issuer=issuer,
        tenant_id=tenant_id,
        role=role,
        name=name,
        secret=secret,
        clearance=clearance,
        user_id=user_id,
    )
    return issued.secret


def _encode_cursor(token: TokenRecord) -> str:
    raw = json.dumps([token.created_at.astimezone(UTC).isoformat(), token.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("cursor time without a UTC offset")
        return created_at.astimezone(UTC), uuid.UUID(key)
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor", field="after") from exc


async def list_tokens(
    *, tenant_id: str, first: int | None = None, after: str | None = None
) -> TokenPage:
    """The tenant's tokens, revoked ones included, oldest first."""
    size = page_size(first)
    if not await Tenant.exists(id=tenant_id):
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    query = ApiToken.filter(tenant_id=tenant_id)
    if after is not None:
        created_at, key = _decode_cursor(after)
        query = query.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=key))
    rows = await query.order_by("created_at", "id").limit(size + 1)
    tokens = [TokenRecord.from_model(r) for r in rows[:size]]
    return TokenPage(
        items=[(_encode_cursor(t), t) for t in tokens],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


async def revoke_token(*, token_id: str, tenant_id: str | None = None) -> TokenRecord:
    """Stamp the token revoked; revoking it again changes nothing.

    `tenant_id` confines the search to one tenant: another tenant's token is not found.
    This process forgets the token at once; others within their cache time (_CACHE_SECONDS).
    """
    key = parse_uuid(token_id)
    if key is None:
        raise NotFound(f"no token {token_id!r}", field="id")
    async with in_transaction():
        query = ApiToken.filter(id=key)
        if tenant_id is not None:
            query = query.filter(tenant_id=tenant_id)
        row = await query.select_for_update().first()
        if row is None:
            raise NotFound(f"no token {token_id!r}", field="id")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            await row.save(update_fields=["revoked_at"])
            await audit.record(
                tenant_id=row.tenant_id,
                action="token.revoked",
                target=str(row.id),
                changes={"name": row.name, "role": row.role.value},
            )
    _cache.pop(row.token_hash, None)
    return TokenRecord.from_model(row)


async def revoke_user_tokens(*, tenant_id: str, user_id: str) -> int:
    """Revoke every live token of a user; call inside the transaction that deactivates them.

    Each revocation is audited. This process forgets the tokens at once, others within their
    cache time; open WebSockets close at their next token check.
    """
    rows = await ApiToken.filter(
        tenant_id=tenant_id, user_id=user_id, revoked_at=None
    ).select_for_update()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        await row.save(update_fields=["revoked_at"])
        await audit.record(
            tenant_id=tenant_id,
            action="token.revoked",
            target=str(row.id),
            changes={"name": row.name, "role": row.role.value, "reason": "user deactivated"},
        )
        _cache.pop(row.token_hash, None)
    return len(rows)


async def ensure_token(*, tenant_id: str, role: Role, name: str, secret: str) -> bool:
    """Make sure a token with exactly this secret exists; True when it was created now.

    Replicas starting together with the same bootstrap token race here: the unique hash
    lets one insert win and the others find it.
    """
    if await ApiToken.exists(token_hash=hash_token(secret)):
        return False
    try:
        await create_token(
            issuer=OPERATOR, tenant_id=tenant_id, role=role, name=name, secret=secret
        )
    except IntegrityError:
        return False
    return True


async def first_admin_token(*, tenant_id: str = "default") -> str | None:
    """On an empty database, create the first admin token and return its secret.

    The tenant row is locked meanwhile, so replicas starting together create one, not several.
    """
    async with in_transaction():
        await Tenant.select_for_update().get_or_none(id=tenant_id)
        if await ApiToken.exists():
            return None
        return await create_token(
            issuer=OPERATOR, tenant_id=tenant_id, role=Role.ADMIN, name="first admin"
        )


_cache: dict[str, tuple[float, Principal]] = {}


def clear_cache() -> None:
    _cache.clear()


async def authenticate(authorization: str | None) -> Principal:
    """Resolve an `Authorization: Bearer <token>` value to its principal."""
    if not authorization:
        raise Unauthenticated("missing credentials: send Authorization: Bearer <token>")
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthenticated("malformed credentials: expected Authorization: Bearer <token>")
    digest = hash_token(secret)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = await ApiToken.get_or_none(token_hash=digest, revoked_at=None).select_related("user")
    if row is None or (row.user is not None and not row.user.active):
        _cache.pop(digest, None)
        raise Unauthenticated("invalid or revoked token")
    principal = Principal(
        token_id=str(row.id),
        tenant_id=row.tenant_id,
        role=row.role,
        name=row.name,
        clearance=clearance_of(row),
        user_id=str(row.user_id) if row.user_id is not None else None,
    )
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[digest] = (now + _CACHE_SECONDS, principal)
    return principal
