from datetime import UTC, datetime

from tortoise import migrations
from tortoise.migrations import operations as ops


async def create_default_tenant(apps, schema_editor):
    client = schema_editor.client
    mark = "$1" if schema_editor.DIALECT == "postgres" else "?"
    rows = await client.execute_query_dict(f"SELECT id FROM tenant WHERE id = {mark}", ["default"])
    if rows:
        return
    now = datetime.now(UTC)
    marks = ", ".join(f"${i}" for i in range(1, 6)) if mark == "$1" else "?, ?, ?, ?, ?"
    await client.execute_insert(
        f"INSERT INTO tenant (id, name, policy, incident_counter, created_at) VALUES ({marks})",
        ["default", "Default", "{}", 0, now if mark == "$1" else now.isoformat()],
    )


async def keep_default_tenant(apps, schema_editor):
    """The default tenant stays: it owns data."""


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [ops.RunPython(create_default_tenant, keep_default_tenant)]
