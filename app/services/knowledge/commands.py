"""Article commands: write, edit, submit for review, publish (never your own draft), retire,
link. Each is one transaction with the article's timeline events and audit record; every
publish stores an immutable version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.clock import utcnow
from app.errors import Conflict, InvalidTransition, SeparationOfDuties, ValidationFailed
from app.models import (
    ArticleKind,
    ArticleLink,
    ArticleStatus,
    ArticleVersion,
    Classification,
    IncidentStatus,
    KnowledgeArticle,
    Problem,
)
from app.services import writer
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.incidents import validation
from app.services.knowledge import lifecycle
from app.services.records import commands as records
from app.services.records import timeline
from app.services.records.timeline import RecordEventView
from app.services.writer import LostRace

RECORD = "article"
# On the problem's timeline when an article is linked to it.
PROBLEM_ARTICLE_LINKED = "com.incidents.problem.article_linked.v1"
GLOBAL_PREFIX = "kb_"
BODY_MAX = 200_000


class ArticleEvent:
    CREATED = "com.incidents.article.created.v1"
    EDITED = "com.incidents.article.edited.v1"
    SUBMITTED = "com.incidents.article.submitted.v1"
    PUBLISHED = "com.incidents.article.published.v1"
    RETIRED = "com.incidents.article.retired.v1"
    LINKED = "com.incidents.article.linked.v1"


@dataclass(frozen=True, slots=True)
class ArticleView:
    id: str
    tenant_id: str
    number: int
    title: str
    body: str
    kind: ArticleKind
    status: ArticleStatus
    classification: Classification
    author: str | None
    reviewer: str | None
    published_version: int
    published_at: datetime | None
    incident_id: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def reference(self) -> str:
        return f"KB-{self.number}"

    @classmethod
    def of(cls, row: KnowledgeArticle) -> ArticleView:
        return cls(
            id=str(row.id),
            tenant_id=row.tenant_id,
            number=row.number,
            title=row.title,
            body=row.body,
            kind=row.kind,
            status=row.status,
            classification=row.classification,
            author=row.author,
            reviewer=row.reviewer,
            published_version=row.published_version,
            published_at=row.published_at,
            incident_id=str(row.incident_id) if row.incident_id else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@dataclass(frozen=True, slots=True)
class ArticleResult:
    article: ArticleView
    events: list[RecordEventView]


def _body(value: str | None) -> str:
    text = validation.text(value, field="body", required=True)
    assert text is not None
    if len(text) > BODY_MAX:
        raise ValidationFailed(f"body must be at most {BODY_MAX} characters", field="body")
    return text


async def create_article(
    *,
    caller: Caller,
    title: str,
    body: str,
    kind: ArticleKind,
    classification: Classification = Classification.INTERNAL,
    incident_id: str | None = None,
    problem_id: str | None = None,
) -> ArticleResult:
    """Write a draft. One written from an incident only once that incident is RESOLVED or
    CLOSED (what resolved it is known by then); it is linked to it."""
    clean_title, text = validation.title(title), _body(body)
    records.require_clearance(caller, classification)
    incident = None
    if incident_id is not None:
        incident = (await records.visible_incidents(caller, [incident_id], field="incidentId"))[0]
        if incident.status not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
            raise ValidationFailed(
                f"an article is written from an incident once it is RESOLVED or CLOSED; "
                f"INC-{incident.number} is {incident.status.value}",
                field="incidentId",
            )
    problem = (
        await records.load(Problem, caller, problem_id, noun="problem", field="problemId")
        if problem_id is not None
        else None
    )

    async def links(row: KnowledgeArticle) -> None:
        now = utcnow()
        if incident is not None:
            await ArticleLink.create(
                tenant_id=caller.tenant_id, article_id=row.id, incident_id=incident.id,
                linked_at=now,
            )  # fmt: skip
        if problem is not None:
            await ArticleLink.create(
                tenant_id=caller.tenant_id, article_id=row.id, problem_id=problem.id,
                linked_at=now,
            )  # fmt: skip

    row, events = await records.create_numbered(
        KnowledgeArticle,
        caller,
        record_type=RECORD,
        values={
            "title": clean_title,
            "body": text,
            "kind": kind,
            "classification": classification,
            "author": caller.actor,
            "incident_id": incident.id if incident else None,
        },
        event=(ArticleEvent.CREATED, {"title": clean_title, "kind": kind.value}),
        action="article.create",
        prefix="KB",
        also=links,
    )
    return ArticleResult(ArticleView.of(row), events)


async def get_article(*, caller: Caller, article_id: str, field: str = "id") -> ArticleView:
    return ArticleView.of(
        await records.load(KnowledgeArticle, caller, article_id, noun=RECORD, field=field)
    )


async def _apply(
    caller: Caller, article_id: str, decide: Any, *, action: str, fields: tuple[str, ...],
    version: int | None,
) -> ArticleResult:  # fmt: skip
    row, events = await records.apply(
        KnowledgeArticle, caller, article_id, record_type=RECORD, decide=decide, action=action,
        fields=fields, version=version,
    )  # fmt: skip
    return ArticleResult(ArticleView.of(row), events)


async def update_article(
    *,
    caller: Caller,
    article_id: str,
    title: str | None = None,
    body: str | None = None,
    kind: ArticleKind | None = None,
    version: int | None = None,
) -> ArticleResult:
    """Edit the working copy: whoever edits writes the draft (a published article gets a
    new draft; its published version stays as it is until the next publish)."""
    clean_title = validation.title(title) if title is not None else None
    text = _body(body) if body is not None else None

    def decide(row: KnowledgeArticle, now: datetime) -> records.NewEvents:
        if row.status not in lifecycle.EDITABLE:
            raise InvalidTransition(f"a {row.status.value} article cannot be edited", field="id")
        changed = {
            name: value
            for name, value in (("title", clean_title), ("body", text), ("kind", kind))
            if value is not None and getattr(row, name) != value
        }
        if not changed:
            return []
        for name, value in changed.items():
            setattr(row, name, value)
        before = row.status
        row.status, row.author = lifecycle.after_edit(row.status), caller.actor
        data: dict[str, Any] = {"fields": sorted(changed), "from": before.value}
        return [(ArticleEvent.EDITED, data)]

    return await _apply(
        caller, article_id, decide, action="article.kb_update",
        fields=("title", "body", "kind", "status", "author"), version=version,
    )  # fmt: skip


async def submit_article(
    *, caller: Caller, article_id: str, version: int | None = None
) -> ArticleResult:
    def decide(row: KnowledgeArticle, now: datetime) -> records.NewEvents:
        if row.status not in lifecycle.SUBMITTABLE:
            raise InvalidTransition(
                f"a {row.status.value} article cannot be submitted for review", field="id"
            )
        row.status = ArticleStatus.IN_REVIEW
        return [(ArticleEvent.SUBMITTED, {"by": caller.actor})]

    return await _apply(
        caller, article_id, decide, action="article.update", fields=("status",), version=version
    )


async def publish_article(
    *, caller: Caller, article_id: str, version: int | None = None
) -> ArticleResult:
    """Publish the article in review as its next version; never by whoever wrote it."""
    for _ in range(records.RACE_RETRIES):
        row = await records.load(KnowledgeArticle, caller, article_id, noun=RECORD)
        if version is not None and row.version != version:
            raise Conflict(
                f"the article is at version {row.version}, not {version}", field="version"
            )
        if row.status not in lifecycle.PUBLISHABLE:
            raise InvalidTransition(
                f"a {row.status.value} article cannot be published: submit it for review first",
                field="id",
            )
        if caller.actor is not None and row.author == caller.actor:
            raise SeparationOfDuties(
                "whoever wrote an article cannot publish it (separation of duties)", field="id"
            )
        now = utcnow()
        number = row.published_version + 1
        changes = {
            "status": ArticleStatus.PUBLISHED, "reviewer": caller.actor,
            "published_version": number, "published_at": now, "updated_at": now,
            "version": row.version + 1,
        }  # fmt: skip
        try:
            async with writer.transaction():
                await ArticleVersion.filter(article_id=row.id, current=True).update(current=False)
                await ArticleVersion.create(
                    tenant_id=row.tenant_id, article_id=row.id, number=number, title=row.title,
                    body=row.body, kind=row.kind, author=row.author, reviewer=caller.actor,
                    published_at=now, current=True,
                )  # fmt: skip
                events = await timeline.append(
                    KnowledgeArticle, row, RECORD,
                    [(ArticleEvent.PUBLISHED, {"version": number, "by": caller.actor})],
                    actor=caller.actor, now=now, changes=changes,
                )  # fmt: skip
                await audit.record(
                    tenant_id=row.tenant_id, action="article.publish", target=str(row.id),
                    changes={"version": number},
                )  # fmt: skip
        except LostRace:
            continue
        for name, value in changes.items():
            setattr(row, name, value)
        return ArticleResult(ArticleView.of(row), events)
    raise Conflict("the article is changing too fast; retry", field="id")


async def retire_article(
    *, caller: Caller, article_id: str, reason: str | None = None, version: int | None = None
) -> ArticleResult:
    why = validation.text(reason, field="reason")

    def decide(row: KnowledgeArticle, now: datetime) -> records.NewEvents:
        if row.status not in lifecycle.RETIRABLE:
            raise InvalidTransition(f"a {row.status.value} article cannot be retired", field="id")
        row.status = ArticleStatus.RETIRED
        return [(ArticleEvent.RETIRED, {"reason": why})]

    # Search leaves retired articles out.
    return await _apply(
        caller, article_id, decide, action="article.update", fields=("status",), version=version
    )


async def link_article(
    *, caller: Caller, article_id: str, incident_id: str | None = None,
    problem_id: str | None = None,
) -> ArticleResult:  # fmt: skip
    """Link the article to an incident or a problem it helps with: an event on both
    timelines, one transaction."""
    if (incident_id is None) == (problem_id is None):
        raise ValidationFailed("give incidentId or problemId (one of them)", field="incidentId")
    row = await records.load(KnowledgeArticle, caller, article_id, noun=RECORD, field="articleId")
    article = ArticleView.of(row)
    if incident_id is not None:
        incident = (await records.visible_incidents(caller, [incident_id], field="incidentId"))[0]
        if await ArticleLink.exists(article_id=row.id, incident_id=incident.id):
            raise Conflict("the article is already linked to this incident", field="incidentId")

        async def write_link(current: KnowledgeArticle, now: datetime) -> dict[str, Any]:
            await ArticleLink.create(
                tenant_id=caller.tenant_id, article_id=current.id, incident_id=incident.id,
                linked_at=now,
            )  # fmt: skip
            return {}

        linked = {"incident": incident.id, "reference": f"INC-{incident.number}"}
        events = await records.link_incident(
            KnowledgeArticle, caller, row, incident, record_type=RECORD,
            global_id=global_id(article.id), reference=article.reference, linked=True,
            event=(ArticleEvent.LINKED, linked), write_link=write_link, action="article.link",
        )  # fmt: skip
    else:
        assert problem_id is not None
        problem = await records.load(Problem, caller, problem_id, noun="problem", field="problemId")
        if await ArticleLink.exists(article_id=row.id, problem_id=problem.id):
            raise Conflict("the article is already linked to this problem", field="problemId")

        async def write_problem_link(now: datetime) -> None:
            await ArticleLink.create(
                tenant_id=caller.tenant_id, article_id=row.id, problem_id=problem.id, linked_at=now
            )

        data = {"problem": str(problem.id), "reference": f"PRB-{problem.number}"}
        events = await records.link_records(
            caller,
            (KnowledgeArticle, row, RECORD, (ArticleEvent.LINKED, data)),
            (Problem, problem, "problem",
             (PROBLEM_ARTICLE_LINKED, {"article": article.id, "reference": article.reference})),
            write_link=write_problem_link, action="article.link", audit_changes=data,
        )  # fmt: skip
    return ArticleResult(await get_article(caller=caller, article_id=article.id), events)


def global_id(article_id: str) -> str:
    return GLOBAL_PREFIX + uuid.UUID(article_id).hex
