"""The knowledge base: read and searched by every role that reads incidents; written and
reviewed by responders and up, never published by whoever wrote the draft."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError
from app.resolvers.incident import incident_key
from app.resolvers.problem import problem_key
from app.schema.authorization import authorize
from app.schema.common import PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.knowledge import (
    ARTICLE_PREFIX,
    ArticleCommandInput,
    ArticlePayload,
    CreateArticleInput,
    KnowledgeArticle,
    KnowledgeArticleConnection,
    KnowledgeArticleEdge,
    KnowledgeArticleFilter,
    LinkArticleInput,
    RetireArticleInput,
    UpdateArticleInput,
)
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.knowledge import commands, search
from app.services.knowledge.commands import ArticleResult


def article_key(value: str, *, field: str = "id") -> str:
    key = from_global_id(ARTICLE_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="article", field=field))


async def knowledge_articles(
    info: Info[Context, Any],
    filter: KnowledgeArticleFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> KnowledgeArticleConnection:
    caller = Caller.of(authorize(info, Action.READ_INCIDENTS))
    try:
        if filter is not None and filter.text:
            filter.check_search()
            page = await search.search_articles(
                caller=caller, text=filter.text, kind=filter.kind, first=first, after=after
            )
        else:
            domain = filter.to_domain() if filter is not None else None
            page = await search.list_articles(
                caller=caller, filter=domain, first=first, after=after
            )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [KnowledgeArticleEdge.of(cursor, hit) for cursor, hit in page.items]
    return KnowledgeArticleConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        total_count=page.total,
    )


async def _command(
    info: Info[Context, Any], command: Callable[[Caller], Awaitable[ArticleResult]]
) -> ArticlePayload:
    caller = Caller.of(authorize(info, Action.MANAGE_KNOWLEDGE))
    try:
        result = await command(caller)
    except DomainError as error:
        return ArticlePayload(article=None, errors=[UserError.of(error)])
    return ArticlePayload(article=KnowledgeArticle.of(result.article), errors=[])


async def create_article(info: Info[Context, Any], input: CreateArticleInput) -> ArticlePayload:
    return await _command(
        info,
        lambda caller: commands.create_article(
            caller=caller,
            title=input.title,
            body=input.body,
            kind=input.kind,
            classification=input.classification,
            incident_id=(
                incident_key(input.incident_id, field="incidentId") if input.incident_id else None
            ),
            problem_id=(
                problem_key(input.problem_id, field="problemId") if input.problem_id else None
            ),
        ),
    )


async def update_article(info: Info[Context, Any], input: UpdateArticleInput) -> ArticlePayload:
    return await _command(
        info,
        lambda caller: commands.update_article(
            caller=caller,
            article_id=article_key(input.id),
            title=input.title,
            body=input.body,
            kind=input.kind,
            version=input.version,
        ),
    )


async def submit_article(info: Info[Context, Any], input: ArticleCommandInput) -> ArticlePayload:
    return await _command(
        info,
        lambda caller: commands.submit_article(
            caller=caller, article_id=article_key(input.id), version=input.version
        ),
    )


async def publish_article(info: Info[Context, Any], input: ArticleCommandInput) -> ArticlePayload:
    return await _command(
        info,
        lambda caller: commands.publish_article(
            caller=caller, article_id=article_key(input.id), version=input.version
        ),
    )


async def retire_article(info: Info[Context, Any], input: RetireArticleInput) -> ArticlePayload:
    return await _command(
        info,
        lambda caller: commands.retire_article(
            caller=caller, article_id=article_key(input.id), reason=input.reason,
            version=input.version,
        ),
    )  # fmt: skip


async def link_article(info: Info[Context, Any], input: LinkArticleInput) -> ArticlePayload:
    return await _command(
        info,
        lambda caller: commands.link_article(
            caller=caller,
            article_id=article_key(input.article_id, field="articleId"),
            incident_id=(
                incident_key(input.incident_id, field="incidentId") if input.incident_id else None
            ),
            problem_id=(
                problem_key(input.problem_id, field="problemId") if input.problem_id else None
            ),
        ),
    )
