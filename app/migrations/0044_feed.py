from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


# Events written before the feed began take their places in it by time, per tenant.
_BACKFILL = """
INSERT INTO feed_entry (tenant_id, position, record_type, record_id, event_row, type, time)
SELECT tenant_id,
       ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY time, kind, record_id, seq),
       record_type, record_id, id, type, time
FROM (
    SELECT tenant_id, 'incident' AS record_type, incident_id AS record_id, id, type, time,
           seq, 0 AS kind
    FROM timeline_event
    UNION ALL
    SELECT tenant_id, record_type, record_id, id, type, time, seq, 1 AS kind
    FROM record_event
) AS e
"""
_COUNTERS = """
INSERT INTO feed_counter (tenant_id, position)
SELECT tenant_id, MAX(position) FROM feed_entry GROUP BY tenant_id
"""


async def backfill(apps, schema_editor):
    await schema_editor.client.execute_script(_BACKFILL)
    await schema_editor.client.execute_script(_COUNTERS)


async def no_backfill(apps, schema_editor):
    pass

class Migration(migrations.Migration):
    dependencies = [('models', '0043_rule_event')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FeedCounter',
            fields=[
                ('tenant_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('position', fields.BigIntField(default=0)),
            ],
            options={'table': 'feed_counter', 'app': 'models', 'pk_attr': 'tenant_id', 'table_description': "The last position handed out in a tenant's feed. Moved on as the last statement of"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FeedEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('position', fields.BigIntField()),
                ('record_type', fields.CharField(max_length=32)),
                ('record_id', fields.UUIDField()),
                ('event_row', fields.UUIDField()),
                ('type', fields.CharField(max_length=128)),
                ('time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'feed_entry', 'app': 'models', 'unique_together': (('tenant_id', 'position'),), 'indexes': [Index(fields=['tenant_id', 'type', 'position']), Index(fields=['tenant_id', 'record_id', 'position'])], 'pk_attr': 'id', 'table_description': "One committed CloudEvent's place in its tenant's feed: positions from 1 per tenant,"},
            bases=['Model'],
        ),
        ops.RunPython(backfill, no_backfill),
    ]
