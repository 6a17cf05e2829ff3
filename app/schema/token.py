"""API tokens as an admin sees them: never the secret, except once, in createApiToken."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry

from app import models
from app.schema.common import Classification, PageInfo, UserError, to_global_id
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

    @classmethod
    def of(cls, token: TokenRecord) -> ApiToken:
        return cls(
            id=strawberry.ID(to_global_id(TOKEN_PREFIX, token.id)),
            name=token.name,
            role=token.role,
            clearance=token.clearance,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
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
    name: str = strawberry.field(description="Who or what uses the token.")
    role: Role
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
