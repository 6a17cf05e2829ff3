"""API tokens: created once, stored hashed, resolved to a principal on every request."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.errors import NotFound, ValidationFailed
from app.models import ApiToken, Role, Tenant

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


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(*, tenant_id: str, role: Role, name: str, secret: str | None = None) -> str:
    """Create a token and return its secret, which is not stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 255:
        raise ValidationFailed("token name must be 1 to 255 characters", field="name")
    if not await Tenant.exists(id=tenant_id):
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    secret = secret or TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(
        id=uuid.uuid4(), tenant_id=tenant_id, role=role, name=name, token_hash=hash_token(secret)
    )
    return secret


async def ensure_token(*, tenant_id: str, role: Role, name: str, secret: str) -> bool:
    """Make sure a token with exactly this secret exists; True when it was created now.

    Replicas starting together with the same bootstrap token race here: the unique hash
    lets one insert win and the others find it.
    """
    if await ApiToken.exists(token_hash=hash_token(secret)):
        return False
    try:
        await create_token(tenant_id=tenant_id, role=role, name=name, secret=secret)
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
        return await create_token(tenant_id=tenant_id, role=Role.ADMIN, name="first admin")


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
    row = await ApiToken.get_or_none(token_hash=digest, revoked_at=None)
    if row is None:
        _cache.pop(digest, None)
        raise Unauthenticated("invalid or revoked token")
    principal = Principal(
        token_id=str(row.id),
        tenant_id=row.tenant_id,
        role=row.role,
        name=row.name,
    )
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[digest] = (now + _CACHE_SECONDS, principal)
    return principal
