from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields, models

from app.models.classification import Classification

if TYPE_CHECKING:
    from app.models.tenant import Tenant


class ArticleKind(StrEnum):
    RESOLUTION = "RESOLUTION"
    WORKAROUND = "WORKAROUND"
    PREVENTION = "PREVENTION"


class ArticleStatus(StrEnum):
    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    PUBLISHED = "PUBLISHED"
    RETIRED = "RETIRED"


class KnowledgeArticle(models.Model):
    """A knowledge base article, KB-<number>: the working copy (a draft, in review, or the
    text of its latest published version)."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="articles"
    )
    tenant_id: str
    number = fields.IntField()
    title = fields.CharField(max_length=255)
    body: str = fields.TextField()
    kind = fields.CharEnumField(ArticleKind, max_length=16)
    status = fields.CharEnumField(ArticleStatus, max_length=16, default=ArticleStatus.DRAFT)
    classification = fields.CharEnumField(
        Classification, max_length=16, default=Classification.INTERNAL
    )
    # Who wrote the working copy, and who published the latest version.
    author = fields.CharField(max_length=255, null=True)
    reviewer = fields.CharField(max_length=255, null=True)
    # The number of the latest published version (0: never published).
    published_version = fields.IntField(default=0)
    published_at = fields.DatetimeField(null=True)
    # The incident it was written from, if any (only once that incident is resolved).
    incident_id = fields.UUIDField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    version = fields.IntField(default=1)
    last_seq = fields.IntField(default=0)

    class Meta:
        table = "knowledge_article"
        unique_together = (("tenant_id", "number"),)
        indexes = (("tenant_id", "status"),)


class ArticleVersion(models.Model):
    """One published version of an article: immutable. The current one is what search finds."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    article: fields.ForeignKeyRelation[KnowledgeArticle] = fields.ForeignKeyField(
        "models.KnowledgeArticle", related_name="versions", on_delete=fields.CASCADE
    )
    article_id: str
    number = fields.IntField()
    title = fields.CharField(max_length=255)
    body: str = fields.TextField()
    kind = fields.CharEnumField(ArticleKind, max_length=16)
    author = fields.CharField(max_length=255, null=True)
    reviewer = fields.CharField(max_length=255, null=True)
    published_at = fields.DatetimeField()
    # The article's latest published version, while the article is PUBLISHED.
    current = fields.BooleanField(default=False)

    class Meta:
        table = "article_version"
        unique_together = (("article_id", "number"),)
        indexes = (("tenant_id", "current"),)


class ArticleLink(models.Model):
    """An article linked to an incident or a problem it helps with."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    article: fields.ForeignKeyRelation[KnowledgeArticle] = fields.ForeignKeyField(
        "models.KnowledgeArticle", related_name="links", on_delete=fields.CASCADE
    )
    article_id: str
    incident_id = fields.UUIDField(null=True)
    problem_id = fields.UUIDField(null=True)
    linked_at = fields.DatetimeField()

    class Meta:
        table = "article_link"
        unique_together = (("article_id", "incident_id", "problem_id"),)
        indexes = (("tenant_id", "incident_id"), ("tenant_id", "problem_id"))
