from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.classification import Classification
from app.models.knowledge import ArticleKind, ArticleStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

# Full-text search over published article versions: a weighted tsvector with a GIN index on
# PostgreSQL; an FTS5 table kept by triggers on SQLite (versions are never updated).
_POSTGRES = """
ALTER TABLE article_version ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(body, '')), 'B')
) STORED;
CREATE INDEX article_version_search ON article_version USING GIN (search);
"""
_SQLITE = """
CREATE VIRTUAL TABLE article_search USING fts5(
    title, body, tenant_id UNINDEXED, tokenize = 'porter unicode61'
);
CREATE TRIGGER article_version_search_insert AFTER INSERT ON article_version BEGIN
    INSERT INTO article_search (rowid, title, body, tenant_id)
    VALUES (new.id, new.title, new.body, new.tenant_id);
END;
CREATE TRIGGER article_version_search_delete AFTER DELETE ON article_version BEGIN
    DELETE FROM article_search WHERE rowid = old.id;
END;
"""


async def add_search(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await client.execute_script(_POSTGRES if postgres else _SQLITE)


async def drop_search(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            "DROP INDEX IF EXISTS article_version_search; "
            "ALTER TABLE article_version DROP COLUMN IF EXISTS search"
        )
    else:
        await client.execute_script(
            "DROP TRIGGER IF EXISTS article_version_search_insert; "
            "DROP TRIGGER IF EXISTS article_version_search_delete; "
            "DROP TABLE IF EXISTS article_search"
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0023_changes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='KnowledgeArticle',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='articles', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('title', fields.CharField(max_length=255)),
                ('body', fields.TextField(unique=False)),
                ('kind', fields.CharEnumField(description='RESOLUTION: RESOLUTION\nWORKAROUND: WORKAROUND\nPREVENTION: PREVENTION', enum_type=ArticleKind, max_length=16)),
                ('status', fields.CharEnumField(default=ArticleStatus.DRAFT, description='DRAFT: DRAFT\nIN_REVIEW: IN_REVIEW\nPUBLISHED: PUBLISHED\nRETIRED: RETIRED', enum_type=ArticleStatus, max_length=16)),
                ('classification', fields.CharEnumField(default=Classification.INTERNAL, description='PUBLIC: PUBLIC\nINTERNAL: INTERNAL\nCONFIDENTIAL: CONFIDENTIAL\nRESTRICTED: RESTRICTED', enum_type=Classification, max_length=16)),
                ('author', fields.CharField(null=True, max_length=255)),
                ('reviewer', fields.CharField(null=True, max_length=255)),
                ('published_version', fields.IntField(default=0)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('incident_id', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
                ('last_seq', fields.IntField(default=0)),
            ],
            options={'table': 'knowledge_article', 'app': 'models', 'unique_together': (('tenant_id', 'number'),), 'indexes': [Index(fields=['tenant_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A knowledge base article, KB-<number>: the working copy (a draft, in review, or the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ArticleLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('article', fields.ForeignKeyField('models.KnowledgeArticle', source_field='article_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('incident_id', fields.UUIDField(null=True)),
                ('problem_id', fields.UUIDField(null=True)),
                ('linked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'article_link', 'app': 'models', 'unique_together': (('article_id', 'incident_id', 'problem_id'),), 'indexes': [Index(fields=['tenant_id', 'incident_id']), Index(fields=['tenant_id', 'problem_id'])], 'pk_attr': 'id', 'table_description': 'An article linked to an incident or a problem it helps with.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ArticleVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('article', fields.ForeignKeyField('models.KnowledgeArticle', source_field='article_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('title', fields.CharField(max_length=255)),
                ('body', fields.TextField(unique=False)),
                ('kind', fields.CharEnumField(description='RESOLUTION: RESOLUTION\nWORKAROUND: WORKAROUND\nPREVENTION: PREVENTION', enum_type=ArticleKind, max_length=16)),
                ('author', fields.CharField(null=True, max_length=255)),
                ('reviewer', fields.CharField(null=True, max_length=255)),
                ('published_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('current', fields.BooleanField(default=False)),
            ],
            options={'table': 'article_version', 'app': 'models', 'unique_together': (('article_id', 'number'),), 'indexes': [Index(fields=['tenant_id', 'current'])], 'pk_attr': 'id', 'table_description': 'One published version of an article: immutable. The current one is what search finds.'},
            bases=['Model'],
        ),
        ops.RunPython(add_search, drop_search),
    ]
