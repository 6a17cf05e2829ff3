"""recordUpdated: a problem, change or article, pushed after every change to it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app.errors import DomainError, NotFound
from app.models import Change as ChangeRow
from app.models import KnowledgeArticle as ArticleRow
from app.models import Problem as ProblemRow
from app.schema.authorization import authorize
from app.schema.change import CHANGE_PREFIX, Change
from app.schema.common import from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.knowledge import ARTICLE_PREFIX, KnowledgeArticle
from app.schema.problem import PROBLEM_PREFIX, Problem
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.changes.commands import ChangeView
from app.services.knowledge.commands import ArticleView
from app.services.problems.view import ProblemView
from app.services.records.live import record_updates

Record: TypeAlias = Annotated[
    Problem | Change | KnowledgeArticle,
    strawberry.union("Record", description="A record around the incident."),
]

# prefix -> (row model, noun, the API form of a row)
_KINDS: dict[str, tuple[Any, str, Any]] = {
    PROBLEM_PREFIX: (ProblemRow, "problem", lambda row: Problem.of(ProblemView.of(row))),
    CHANGE_PREFIX: (ChangeRow, "change", lambda row: Change.of(ChangeView.of(row))),
    ARTICLE_PREFIX: (
        ArticleRow,
        "article",
        lambda row: KnowledgeArticle.of(ArticleView.of(row)),
    ),
}


async def record_updated(
    info: Info[Context, Any], id: strawberry.ID
) -> AsyncGenerator[Record, None]:
    principal = authorize(info, Action.READ_INCIDENTS)
    found = [(k, kind) for prefix, kind in _KINDS.items() if (k := from_global_id(prefix, id))]
    if not found:
        raise graphql_error(NotFound(f"no problem, change or article with id {id!r}", field="id"))
    key, (model, noun, api_form) = found[0]
    stream = record_updates(
        broker=info.context.broker, caller=Caller.of(principal), model=model, record_id=key,
        noun=noun,
    )  # fmt: skip
    try:
        async with aclosing(stream) as rows:
            async for row in rows:
                yield api_form(row)
    except DomainError as error:
        raise graphql_error(error) from None
