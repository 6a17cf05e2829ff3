from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0048_retention')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IncidentChannel',
            fields=[
                ('incident_id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=80)),
                ('private', fields.BooleanField(default=False)),
                ('channel_id', fields.CharField(null=True, max_length=32)),
                ('topic', fields.TextField(null=True, unique=False)),
                ('invited', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('posted_seq', fields.IntField(default=0)),
                ('dirty', fields.BooleanField(default=True)),
                ('generation', fields.IntField(default=0)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'incident_channel', 'app': 'models', 'indexes': [Index(fields=['dirty', 'next_attempt_at'])], 'pk_attr': 'incident_id', 'table_description': "An incident's own Slack channel, and how far it has been kept up with the incident:"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='NotificationSettings',
            name='slack_incident_channels',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
