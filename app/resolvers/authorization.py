"""The one place resolvers check the permission table."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from app.errors import Forbidden
from app.resolvers.context import Context
from app.resolvers.errors import DomainGraphQLError
from app.services.access.permissions import Action, allowed
from app.services.access.tokens import Principal


class PermissionDenied(DomainGraphQLError):
    """FORBIDDEN; a mutation may turn `.error` into a payload error instead of raising it."""

    error: Forbidden

    def __init__(self, error: Forbidden) -> None:
        super().__init__(error)


def authorize(info: Info[Context, Any], action: Action) -> Principal:
    """The caller, when its role may perform `action`; PermissionDenied otherwise."""
    principal = info.context.require_principal()
    if not allowed(principal.role, action):
        what = action.value.lower().replace("_", " ")
        raise PermissionDenied(Forbidden(f"role {principal.role.value} may not {what}"))
    return principal
