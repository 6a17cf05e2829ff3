"""Status boards: the tenant's board per persona, one incident's, and the live board."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from strawberry.types import Info

from app.resolvers.live import guarded
from app.schema.authorization import authorize
from app.schema.board import AnyBoard, board_of
from app.schema.context import Context
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.boards import live as board_live
from app.services.boards.status_board import Board, Persona, build_board
from app.services.incidents import live


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
    board = await build_board(caller=Caller.of(principal), persona=persona)
    await _audit(info, board, via="statusBoard")
    return board_of(board)


async def board_updated(
    info: Info[Context, Any], persona: Persona
) -> AsyncGenerator[AnyBoard, None]:
    principal = authorize(info, Action.READ_BOARDS)
    stream = board_live.board_updates(
        broker=info.context.broker,
        caller=Caller.of(principal),
        persona=persona,
    )

    def build(board: Board, *, shared: dict[str, Any] | None) -> AnyBoard:
        return board_of(board, shared=shared)

    async with aclosing(guarded(stream)) as items:
        async for item in items:
            await _audit(info, item.value, via="boardUpdated")
            yield live.shared_object(item, "board", build)
