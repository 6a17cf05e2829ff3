"""API tokens as an admin sees them: never the secret, except once, in createApiToken."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app import models
from app.schema.common import Classification, PageInfo, UserError, to_global_id
from app.schema.context import Context
from app.schema.people import User
from app.services.access.tokens import TokenRecord

Role: TypeAlias = Annotated[
    models.Role,
    strawberry.enum(description="What a token may do; each role includes the ones below it."),
]

# Global ids of tokens: "tok_<32 hex>".
TOKEN_PREFIX = "tok_"


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    role: Role
    clearance: Classification = strawberry.field(
        description="The highest classification the token reads (its role's default unless set)."
    )
    created_at: datetime
    revoked_at: datetime | None = strawberry.field(
        description="When set, the token no longer authenticates."
    )
    user_key: strawberry.Private[str | None]

    @strawberry.field(description="The user the token acts as; null for a service token.")  # type: ignore[untyped-decorator]
    async def user(self, info: Info[Context, Any]) -> User | None:
        if self.user_key is None:
            return None
        view = await info.context.loaders.user.load(self.user_key)
        return User.of(view) if view is not None else None

    @classmethod
    def of(cls, token: TokenRecord) -> ApiToken:
        return cls(
            id=strawberry.ID(to_global_id(TOKEN_PREFIX, token.id)),
            name=token.name,
            role=token.role,
            clearance=token.clearance,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
            user_key=token.user_id,
        )


@strawberry.type
class ApiTokenEdge:
    cursor: str
    node: ApiToken


@strawberry.type
class ApiTokenConnection:
    edges: list[ApiTokenEdge]
    page_info: PageInfo


@strawberry.input
class CreateApiTokenInput:
    name: str | None = strawberry.field(
        default=None,
        description="Who or what uses the token; required for a service token, the user's "
        "handle by default for a user's.",
    )
    role: Role
    user_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The user the token acts as: their id is the actor on every timeline "
        "event, audit record and separation-of-duties rule. Left out: a service token, "
        "acting under its name.",
    )
    clearance: Classification | None = strawberry.field(
        default=None,
        description="Overrides the role's default clearance, up or down, but never above "
        "the issuer's own (FORBIDDEN). Left out: the role's default, capped at the issuer's.",
    )


@strawberry.type
class CreateApiTokenPayload:
    token: ApiToken | None
    secret: str | None = strawberry.field(
        description="The bearer token itself: shown only here, once; only its hash is stored."
    )
    errors: list[UserError]


@strawberry.input
class RevokeApiTokenInput:
    id: strawberry.ID


@strawberry.type
class RevokeApiTokenPayload:
    token: ApiToken | None
    errors: list[UserError]
