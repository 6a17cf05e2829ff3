"""Knowledge articles as the API shows them: the working copy, its published versions,
search hits with highlights, inputs and payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app import models
from app.errors import ValidationFailed
from app.schema import redaction
from app.schema.common import (
    COMBINATOR_FIELDS,
    Classification,
    Node,
    PageInfo,
    TimeRange,
    UserError,
    time_range,
    to_global_id,
)
from app.schema.context import Context
from app.schema.problem import RecordEvent
from app.services import filtering
from app.services.access.classification import REDACTED, record_field_readable, redact_text
from app.services.knowledge import search
from app.services.knowledge.commands import GLOBAL_PREFIX, ArticleView
from app.services.knowledge.search import Hit, VersionView

ArticleKind: TypeAlias = Annotated[models.ArticleKind, strawberry.enum()]
ArticleStatus: TypeAlias = Annotated[
    models.ArticleStatus,
    strawberry.enum(description="DRAFT -> IN_REVIEW -> PUBLISHED -> RETIRED."),
]

ARTICLE_PREFIX = GLOBAL_PREFIX
_KIND = "article"


@strawberry.type(description="A published version of an article: it never changes.")
class ArticleVersion:
    number: int
    title: str
    body: str
    kind: ArticleKind
    author: str | None
    reviewer: str | None
    published_at: datetime

    @classmethod
    def of(cls, v: VersionView, *, readable: bool = True) -> ArticleVersion:
        """The version as a caller may see it: its text [REDACTED] unless `readable` (the
        article's title and body are)."""
        if not readable:
            return cls(
                number=v.number, title=REDACTED, body=REDACTED, kind=v.kind,
                author=redact_text(v.author), reviewer=redact_text(v.reviewer),
                published_at=v.published_at,
            )  # fmt: skip
        return cls(
            number=v.number, title=v.title, body=v.body, kind=v.kind, author=v.author,
            reviewer=v.reviewer, published_at=v.published_at,
        )  # fmt: skip


@strawberry.type(description="A knowledge base article, KB-<number>.")
class KnowledgeArticle(Node):
    id: strawberry.ID
    number: int
    reference: str
    title = redaction.required_text(
        _KIND, "title", description="Of the working copy (a draft, or as published)."
    )
    body = redaction.required_text(_KIND, "body")
    kind: ArticleKind
    status: ArticleStatus
    classification: Classification = strawberry.field(
        description="RESTRICTED articles exist only for callers cleared for them; text above "
        "your clearance reads [REDACTED]."
    )
    author = redaction.optional_text(_KIND, "author", description="Who wrote the working copy.")
    reviewer = redaction.optional_text(
        _KIND, "reviewer", description="Who published the latest version."
    )
    redacted_fields = redaction.redacted_fields(_KIND)
    version: int = strawberry.field(description="The latest published version (0: none yet).")
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    row_version: int = strawberry.field(
        description="Pass as `version` to updates for optimistic concurrency."
    )
    view: strawberry.Private[ArticleView]

    @strawberry.field(description="Every published version, oldest first.")  # type: ignore[untyped-decorator]
    async def versions(self, info: Info[Context, Any]) -> list[ArticleVersion]:
        found = await info.context.loaders.article_versions.load(self.view.id)
        readable = self._text_readable(info)
        return [ArticleVersion.of(v, readable=readable) for v in found]

    @strawberry.field(description="One published version, or null.")  # type: ignore[untyped-decorator]
    async def version_of(self, info: Info[Context, Any], number: int) -> ArticleVersion | None:
        found = await info.context.loaders.article_versions.load(self.view.id)
        readable = self._text_readable(info)
        return next(
            (ArticleVersion.of(v, readable=readable) for v in found if v.number == number), None
        )

    def _text_readable(self, info: Info[Context, Any]) -> bool:
        clearance = info.context.loaders.clearance
        return all(
            record_field_readable(clearance, self.view.classification, _KIND, name)
            for name in ("title", "body")
        )

    @strawberry.field(description="The article's own timeline, oldest first.")  # type: ignore[untyped-decorator]
    async def timeline(self, info: Info[Context, Any]) -> list[RecordEvent]:
        events = await info.context.loaders.record_events.load(self.view.id)
        return RecordEvent.of_record(info, events, subject=f"articles/{self.id}", record=self.view)

    @classmethod
    def of(cls, view: ArticleView) -> KnowledgeArticle:
        return cls(
            id=strawberry.ID(to_global_id(ARTICLE_PREFIX, view.id)),
            number=view.number,
            reference=view.reference,
            kind=view.kind,
            status=view.status,
            classification=view.classification,
            version=view.published_version,
            published_at=view.published_at,
            created_at=view.created_at,
            updated_at=view.updated_at,
            row_version=view.version,
            view=view,
        )


@strawberry.type(description="A piece of a highlight: matched words are `match: true`.")
class HighlightPart:
    text: str
    match: bool


@strawberry.type
class KnowledgeArticleEdge:
    cursor: str
    node: KnowledgeArticle
    rank: float | None = strawberry.field(description="Relevance, with a text search.")
    highlight: list[HighlightPart] = strawberry.field(
        description="With a text search: where the published body matches, in parts."
    )

    @classmethod
    def of(cls, cursor: str, hit: Hit) -> KnowledgeArticleEdge:
        return cls(
            cursor=cursor,
            node=KnowledgeArticle.of(hit.article),
            rank=hit.rank,
            highlight=[HighlightPart(text=p.text, match=p.match) for p in hit.highlight],
        )


@strawberry.type
class KnowledgeArticleConnection:
    edges: list[KnowledgeArticleEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class KnowledgeArticleFilter:
    """With `text`, a ranked search of published articles (and `kind`); without it, every
    article you may see, newest first, filtered by the other fields, which `and`, `or` and
    `not` combine."""

    text: str | None = strawberry.field(
        default=None,
        description="Ranked full-text search of published articles (words, quoted phrases, "
        "-exclusions on PostgreSQL); without it, every article you may see, newest first.",
    )
    kind: ArticleKind | None = None
    status: list[ArticleStatus] | None = None
    created: TimeRange | None = None
    updated: TimeRange | None = strawberry.field(
        default=None, description="Last changed in this range."
    )
    and_: list[KnowledgeArticleFilter] | None = strawberry.field(
        default=None, name="and", description=COMBINATOR_FIELDS["and"]
    )
    or_: list[KnowledgeArticleFilter] | None = strawberry.field(
        default=None, name="or", description=COMBINATOR_FIELDS["or"]
    )
    not_: KnowledgeArticleFilter | None = strawberry.field(
        default=None, name="not", description=COMBINATOR_FIELDS["not"]
    )

    def to_domain(self, *, checked: bool = False) -> search.ArticleFilter:
        """The filter of the newest-first list (without text)."""
        if not checked:
            filtering.check_shape(self)
        if self.text and checked:
            raise ValidationFailed(
                "text is a ranked search of the whole list: give it at the top level",
                field="filter.text",
            )
        return search.ArticleFilter(
            kind=self.kind,
            status=frozenset(self.status) if self.status is not None else None,
            created=time_range(self.created, "filter.created"),
            updated=time_range(self.updated, "filter.updated"),
            and_=tuple(f.to_domain(checked=True) for f in self.and_ or ()),
            or_=tuple(f.to_domain(checked=True) for f in self.or_ or ()),
            not_=self.not_.to_domain(checked=True) if self.not_ is not None else None,
        )

    def check_search(self) -> None:
        """With text (a ranked search of published articles) only `kind` may be given."""
        others = (self.status, self.created, self.updated, self.and_, self.or_, self.not_)
        if any(value is not None for value in others):
            raise ValidationFailed(
                "a text search takes only kind besides text; filter without text to use "
                "status, time ranges and and/or/not",
                field="filter.text",
            )


@strawberry.input
class CreateArticleInput:
    title: str
    body: str
    kind: ArticleKind
    classification: Classification = strawberry.field(default=models.Classification.INTERNAL)
    incident_id: strawberry.ID | None = strawberry.field(
        default=None, description="Written from this incident: only once RESOLVED or CLOSED."
    )
    problem_id: strawberry.ID | None = None


@strawberry.input
class UpdateArticleInput:
    id: strawberry.ID
    title: str | None = None
    body: str | None = None
    kind: ArticleKind | None = None
    version: int | None = None


@strawberry.input
class ArticleCommandInput:
    id: strawberry.ID
    version: int | None = None


@strawberry.input
class RetireArticleInput:
    id: strawberry.ID
    reason: str | None = None
    version: int | None = None


@strawberry.input
class LinkArticleInput:
    article_id: strawberry.ID
    incident_id: strawberry.ID | None = None
    problem_id: strawberry.ID | None = None


@strawberry.type
class ArticlePayload:
    article: KnowledgeArticle | None
    errors: list[UserError]
