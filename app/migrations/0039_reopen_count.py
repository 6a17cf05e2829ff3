import json
from collections import Counter

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


# Incidents reopened before the count began: counted from their timelines.
async def count_reopens(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    rows = await client.execute_query_dict(
        "SELECT incident_id, data FROM timeline_event "
        "WHERE type = 'com.incidents.state_change.v1'"
    )
    reopened = Counter()
    for row in rows:
        data = row["data"]
        if isinstance(data, str):
            data = json.loads(data)
        if data.get("from") == "RESOLVED" and data.get("to") not in ("CLOSED", "RESOLVED"):
            reopened[row["incident_id"]] += 1
    update = (
        "UPDATE incident SET reopen_count = $1 WHERE id = $2"
        if postgres
        else "UPDATE incident SET reopen_count = ? WHERE id = ?"
    )
    for incident_id, count in reopened.items():
        await client.execute_query(update, [count, incident_id])


async def no_count(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [('models', '0038_notifications')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='reopen_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.RunPython(count_reopens, no_count),
    ]
