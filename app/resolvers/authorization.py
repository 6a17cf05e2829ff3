"""The one place resolvers check the permission table."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.types import Info

from app.resolvers.context import Context
from app.services.permissions import Action, allowed
from app.services.token import Principal


def authorize(info: Info[Context, Any], action: Action) -> Principal:
    """The caller, when its role may perform `action`; FORBIDDEN otherwise."""
    principal = info.context.require_principal()
    if not allowed(principal.role, action):
        raise GraphQLError(
            f"role {principal.role.value} may not {action.value.lower().replace('_', ' ')}",
            extensions={"code": "FORBIDDEN"},
        )
    return principal
