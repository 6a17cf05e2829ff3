"""API tokens: listed, created and revoked by the tenant's admins."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from app.errors import DomainError, NotFound
from app.schema.authorization import authorize
from app.schema.common import PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.people import USER_PREFIX
from app.schema.token import (
    TOKEN_PREFIX,
    ApiToken,
    ApiTokenConnection,
    ApiTokenEdge,
    CreateApiTokenInput,
    CreateApiTokenPayload,
    RevokeApiTokenInput,
    RevokeApiTokenPayload,
)
from app.services.access import tokens as service
from app.services.access.permissions import Action


async def api_tokens(
    info: Info[Context, Any], first: int | None = None, after: str | None = None
) -> ApiTokenConnection:
    principal = authorize(info, Action.MANAGE_TOKENS)
    # Tokens change through the CLI too, which no cache hears of.
    info.context.mark_uncacheable()
    try:
        page = await service.list_tokens(tenant_id=principal.tenant_id, first=first, after=after)
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [ApiTokenEdge(cursor=cursor, node=ApiToken.of(t)) for cursor, t in page.items]
    return ApiTokenConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
    )


async def create_api_token(
    info: Info[Context, Any], input: CreateApiTokenInput
) -> CreateApiTokenPayload:
    try:
        principal = authorize(info, Action.MANAGE_TOKENS)
        issued = await service.issue_token(
            issuer=service.Issuer.of(principal),
            tenant_id=principal.tenant_id,
            role=input.role,
            name=input.name,
            clearance=input.clearance,
            user_id=_user_key(input.user_id) if input.user_id is not None else None,
        )
    except DomainError as error:
        return CreateApiTokenPayload(token=None, secret=None, errors=[UserError.of(error)])
    return CreateApiTokenPayload(token=ApiToken.of(issued.token), secret=issued.secret, errors=[])


def _user_key(user_id: str) -> str:
    key = from_global_id(USER_PREFIX, user_id)
    if key is None:
        raise NotFound(f"no user with id {user_id!r}", field="userId")
    return key


async def revoke_api_token(
    info: Info[Context, Any], input: RevokeApiTokenInput
) -> RevokeApiTokenPayload:
    try:
        principal = authorize(info, Action.MANAGE_TOKENS)
        key = from_global_id(TOKEN_PREFIX, input.id)
        if key is None:
            raise NotFound(f"no token {input.id!r}", field="id")
        token = await service.revoke_token(token_id=key, tenant_id=principal.tenant_id)
    except DomainError as error:
        return RevokeApiTokenPayload(token=None, errors=[UserError.of(error)])
    return RevokeApiTokenPayload(token=ApiToken.of(token), errors=[])
