"""The per-request (per-connection, for WebSockets) context handed to every resolver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.websockets import WebSocket

from app.config import Settings
from app.errors import ErrorCode
from app.pubsub.broker import Broker
from app.schema.loaders import Loaders
from app.services.access.tokens import Principal


@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    settings: Settings
    broker: Broker
    principal: Principal | None = None
    connection_params: dict[str, Any] | None = None
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            principal = self.require_principal()
            self._loaders = Loaders(principal.tenant_id, principal.clearance)
        return self._loaders

    def note_audited_reads(self, tenant_id: str, targets: Sequence[str], via: str) -> None:
        """This response read these restricted incidents, recorded: a cached copy of it makes
        each caller it is served to record them too (app/web/middleware/caching.py)."""
        state = self.request.scope.setdefault("state", {})
        state.setdefault("audited_reads", []).extend((tenant_id, t, via) for t in targets)

    def mark_uncacheable(self) -> None:
        """This response must not be answered from the query cache (it was an audited read)."""
        self.request.scope.setdefault("state", {})["uncacheable"] = True

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise GraphQLError(
                "authentication required", extensions={"code": ErrorCode.UNAUTHENTICATED.value}
            )
        return self.principal


# Each role may do all that the ones below it may; STAKEHOLDER, INGEST and SCIM stand apart.
