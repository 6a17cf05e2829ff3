"""Status boards: the tenant's board per persona, one incident's, and the live board."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from graphql import GraphQLError
from strawberry.types import Info

from app.errors import DomainError
from app.pubsub.broker import SlowConsumer
from app.resolvers.authorization import authorize
from app.resolvers.context import Context
from app.resolvers.incident import domain_graphql_error
from app.schema.board import AnyBoard, board_of
from app.services import audit, board_live, live
from app.services.board import Board, Persona, build_board
from app.services.permissions import Action


async def _audit(info: Info[Context, Any], board: Board, *, via: str) -> None:
    """Boards show RESTRICTED incidents to the cleared: those reads are audited first."""
    if board.restricted_ids:
        info.context.mark_uncacheable()
        principal = info.context.require_principal()
        await audit.record_reads(
            tenant_id=principal.tenant_id, targets=list(board.restricted_ids), via=via
        )


async def status_board(info: Info[Context, Any], persona: Persona) -> AnyBoard:
    principal = authorize(info, Action.READ_BOARDS)
    board = await build_board(
        tenant_id=principal.tenant_id, persona=persona, clearance=principal.clearance
    )
    await _audit(info, board, via="statusBoard")
    return board_of(board)


async def incident_board(
    info: Info[Context, Any], persona: Persona, *, incident_id: str
) -> AnyBoard:
    """Incident.statusBoard: reached only through an incident the caller could already read."""
    principal = authorize(info, Action.READ_BOARDS)
    board = await build_board(
        tenant_id=principal.tenant_id,
        persona=persona,
        clearance=principal.clearance,
        incident_id=incident_id,
    )
    await _audit(info, board, via="Incident.statusBoard")
    return board_of(board)


async def board_updated(
    info: Info[Context, Any], persona: Persona
) -> AsyncGenerator[AnyBoard, None]:
    principal = authorize(info, Action.READ_BOARDS)
    stream = board_live.board_updates(
        broker=info.context.broker,
        tenant_id=principal.tenant_id,
        persona=persona,
        clearance=principal.clearance,
    )

    def build(board: Board, *, shared: dict[str, Any] | None) -> AnyBoard:
        return board_of(board, shared=shared)

    try:
        async for item in stream:
            await _audit(info, item.value, via="boardUpdated")
            yield live.shared_object(item, "board", build)
    except DomainError as error:
        raise domain_graphql_error(error) from None
    except SlowConsumer as error:
        raise GraphQLError(str(error), extensions={"code": "SLOW_CONSUMER"}) from None
    finally:
        await stream.aclose()
