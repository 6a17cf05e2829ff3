from tortoise import migrations
from tortoise.migrations import operations as ops

# Likely duplicate problems by trigram similarity of titles: pg_trgm (a trusted extension
# since PostgreSQL 13: the database's owner may install it) and a GIN index on the titles.
# Where the extension cannot be installed the migration still applies, and the server
# computes the same measure itself. SQLite has neither: nothing to do.
_POSTGRES = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm cannot be installed (%): duplicate problems are found unindexed',
        SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS problem_title_trigrams ON problem
            USING GIN (title gin_trgm_ops);
    END IF;
END $$;
"""


async def add_trigrams(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(_POSTGRES)


async def drop_trigrams(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script("DROP INDEX IF EXISTS problem_title_trigrams")


class Migration(migrations.Migration):
    dependencies = [('models', '0026_service_timeline')]

    initial = False

    operations = [
        ops.RunPython(add_trigrams, drop_trigrams),
    ]
