"""Ranked full-text search over the published knowledge base.

PostgreSQL: a weighted tsvector (title A, body B) with a GIN index, `websearch_to_tsquery`,
`ts_rank` and `ts_headline`. SQLite: an FTS5 table (porter stemming) with `bm25` (title
weighted ten times the body) and `snippet`. Both search the latest published version of
every article not retired, as far as the reader's clearance reaches, and answer the
matches in the text as structured highlight parts (never markup to escape).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import Q

from app.core.ids import parse_uuid
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.core.text import filter_text
from app.errors import ValidationFailed
from app.models import (
    ArticleKind,
    ArticleLink,
    ArticleStatus,
    ArticleVersion,
    Classification,
    KnowledgeArticle,
)
from app.services import filtering
from app.services.access.caller import Caller
from app.services.filtering import TimeRange
from app.services.knowledge.commands import ArticleView
from app.services.records import queries as records

# Around each match in a highlight: private-use characters no article is written with.
_START, _STOP = "\ue000", "\ue001"
_WORD = re.compile(r"\w+")

_POSTGRES = """
SELECT v.article_id, ts_rank(v.search, q) AS rank,
       ts_headline('english', v.body, q,
                   'StartSel=\ue000, StopSel=\ue001, MaxFragments=2, MaxWords=24, MinWords=8')
       AS highlight
FROM article_version v
JOIN knowledge_article a ON a.id = v.article_id,
     websearch_to_tsquery('english', $1) q
WHERE v.tenant_id = $2 AND v.current AND a.status <> 'RETIRED'
  AND a.classification = ANY($3::text[]) AND ($4::text IS NULL OR a.kind = $4)
  AND v.search @@ q
ORDER BY rank DESC, a.number DESC
LIMIT $5 OFFSET $6
"""
_POSTGRES_COUNT = """
SELECT count(*) AS total
FROM article_version v
JOIN knowledge_article a ON a.id = v.article_id,
     websearch_to_tsquery('english', $1) q
WHERE v.tenant_id = $2 AND v.current AND a.status <> 'RETIRED'
  AND a.classification = ANY($3::text[]) AND ($4::text IS NULL OR a.kind = $4)
  AND v.search @@ q
"""
_SQLITE = """
SELECT v.article_id, -bm25(article_search, 10.0, 1.0) AS rank,
       snippet(article_search, 1, '\ue000', '\ue001', '…', 24) AS highlight
FROM article_search
JOIN article_version v ON v.id = article_search.rowid
JOIN knowledge_article a ON a.id = v.article_id
WHERE article_search MATCH ?1 AND v.tenant_id = ?2 AND v.current = 1
  AND a.status <> 'RETIRED' AND a.classification IN (SELECT value FROM json_each(?3))
  AND (?4 IS NULL OR a.kind = ?4)
ORDER BY rank DESC, a.number DESC
LIMIT ?5 OFFSET ?6
"""
_SQLITE_COUNT = """
SELECT count(*) AS total
FROM article_search
JOIN article_version v ON v.id = article_search.rowid
JOIN knowledge_article a ON a.id = v.article_id
WHERE article_search MATCH ?1 AND v.tenant_id = ?2 AND v.current = 1
  AND a.status <> 'RETIRED' AND a.classification IN (SELECT value FROM json_each(?3))
  AND (?4 IS NULL OR a.kind = ?4)
"""


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    match: bool


@dataclass(frozen=True, slots=True)
class Hit:
    article: ArticleView
    rank: float | None = None
    highlight: list[Part] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HitPage:
    items: list[tuple[str, Hit]]
    has_next_page: bool
    has_previous_page: bool
    total: int


def parts(highlight: str) -> list[Part]:
    """A highlight with its matches marked, as plain-text parts."""
    found: list[Part] = []
    for n, piece in enumerate(re.split(f"[{_START}{_STOP}]", highlight)):
        if piece:
            found.append(Part(piece, match=n % 2 == 1))
    return found


def fts5_query(text: str) -> str | None:
    """The words of `text` as an FTS5 query every one of them must match (each quoted, so
    that no word is read as FTS5 syntax); None when it has no word."""
    words = _WORD.findall(text)
    return " ".join(f'"{w}"' for w in words) if words else None


async def search_articles(
    *,
    caller: Caller,
    text: str,
    kind: ArticleKind | None = None,
    first: int | None = None,
    after: str | None = None,
) -> HitPage:
    """Published articles matching `text`, most relevant first, `first` at a time."""
    size = page_size(first)
    query = filter_text(text)
    offset = 0
    if after is not None:
        position = decode_key_cursor("article-hit", after)
        if not position.isdigit():
            raise ValidationFailed("malformed cursor", field="after")
        offset = int(position)
    levels = [c.value for c in records.readable_text_levels(caller.clearance)]
    conn = KnowledgeArticle._meta.db
    kind_value = kind.value if kind is not None else None
    if conn.capabilities.dialect == "sqlite":
        match = fts5_query(query)
        if match is None:
            return HitPage([], False, after is not None, 0)
        args: list[object] = [match, caller.tenant_id, json.dumps(levels), kind_value]
        rows = await conn.execute_query_dict(_SQLITE, [*args, size + 1, offset])
        total = (await conn.execute_query_dict(_SQLITE_COUNT, args))[0]["total"]
    else:
        args = [query, caller.tenant_id, levels, kind_value]
        rows = await conn.execute_query_dict(_POSTGRES, [*args, size + 1, offset])
        total = (await conn.execute_query_dict(_POSTGRES_COUNT, args))[0]["total"]
    ids = [str(r["article_id"]) for r in rows[:size]]
    articles = {
        str(a.id): ArticleView.of(a)
        for a in await KnowledgeArticle.filter(tenant_id=caller.tenant_id, id__in=ids)
    }
    items = [
        (
            encode_key_cursor("article-hit", str(offset + n + 1)),
            Hit(articles[str(r["article_id"])], float(r["rank"]), parts(r["highlight"] or "")),
        )
        for n, r in enumerate(rows[:size])
        if str(r["article_id"]) in articles
    ]
    return HitPage(items, len(rows) > size, after is not None, int(total))


@dataclass(frozen=True, slots=True)
class VersionView:
    number: int
    title: str
    body: str
    kind: ArticleKind
    author: str | None
    reviewer: str | None
    published_at: datetime


async def versions_of(*, article_ids: Sequence[str]) -> dict[str, list[VersionView]]:
    """Each article's published versions, oldest first."""
    rows = await ArticleVersion.filter(article_id__in=list(article_ids)).order_by("number")
    found: dict[str, list[VersionView]] = {a: [] for a in article_ids}
    for r in rows:
        found.setdefault(str(r.article_id), []).append(
            VersionView(r.number, r.title, r.body, r.kind, r.author, r.reviewer, r.published_at)
        )
    return found


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Which articles, newest first: every field given must hold; `and_`/`or_`/`not_`
    combine whole filters (app/services/filtering.py). Ranked text search is
    `search_articles`."""

    kind: ArticleKind | None = None
    status: frozenset[ArticleStatus] | None = None
    created: TimeRange | None = None
    updated: TimeRange | None = None
    and_: tuple[ArticleFilter, ...] = ()
    or_: tuple[ArticleFilter, ...] = ()
    not_: ArticleFilter | None = None

    def q(self) -> Q | None:
        filtering.check_shape(self)
        return filtering.to_q(self, ArticleFilter._own_q)

    def _own_q(self) -> Q | None:
        return filtering.all_of(
            Q(kind=self.kind) if self.kind is not None else None,
            Q(status__in=list(self.status)) if self.status is not None else None,
            self.created.q("created_at") if self.created is not None else None,
            self.updated.q("updated_at") if self.updated is not None else None,
        )


async def list_articles(
    *,
    caller: Caller,
    filter: ArticleFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> HitPage:
    """The articles the caller may see, newest first."""
    q = filter.q() if filter is not None else None
    page = await records.numbered_page(
        KnowledgeArticle, caller=caller, q=q or Q(), kind="article", first=first, after=after
    )
    return HitPage(
        [(cursor, Hit(ArticleView.of(row))) for cursor, row in page.rows],
        page.has_next_page,
        page.has_previous_page,
        page.total,
    )


async def get_articles(
    *, tenant_id: str, article_ids: Sequence[str], clearance: Classification
) -> dict[str, ArticleView]:
    rows = await records.by_ids(
        KnowledgeArticle, tenant_id=tenant_id, ids=article_ids, clearance=clearance
    )
    return {str(r.id): ArticleView.of(r) for r in rows}


async def articles_of(
    *, tenant_id: str, incident_ids: Sequence[str] = (), problem_ids: Sequence[str] = ()
) -> dict[str, list[str]]:
    """The articles linked to each incident or problem, oldest link first."""
    by_incident = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    by_problem = [k for k in (parse_uuid(p) for p in problem_ids) if k is not None]
    query = ArticleLink.filter(tenant_id=tenant_id)
    query = (
        query.filter(incident_id__in=by_incident)
        if incident_ids
        else query.filter(problem_id__in=by_problem)
    )
    found: dict[str, list[str]] = {k: [] for k in (*incident_ids, *problem_ids)}
    if not by_incident and not by_problem:
        return found
    for row in await query.order_by("linked_at", "id"):
        key = str(row.incident_id if incident_ids else row.problem_id)
        found.setdefault(key, []).append(str(row.article_id))
    return found
