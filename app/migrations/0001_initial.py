import functools
from json import dumps, loads
from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from app.models.incident import Impact, IncidentStatus, Priority, Severity, Urgency
from app.models.token import Role


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Tenant',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('name', fields.CharField(max_length=255)),
                ('policy', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('incident_counter', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tenant', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=255)),
                ('role', fields.CharEnumField(description='Role', enum_type=Role, max_length=32)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_token', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Incident',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('title', fields.CharField(max_length=255)),
                ('description', fields.TextField(null=True, unique=False)),
                ('service', fields.CharField(null=True, max_length=255)),
                ('severity', fields.CharEnumField(description='Severity', enum_type=Severity, max_length=16)),
                ('impact', fields.CharEnumField(description='Impact', enum_type=Impact, max_length=16)),
                ('urgency', fields.CharEnumField(description='Urgency', enum_type=Urgency, max_length=16)),
                ('priority', fields.CharEnumField(description='Priority', enum_type=Priority, max_length=16)),
                ('status', fields.CharEnumField(default=IncidentStatus.OPEN, description='IncidentStatus', enum_type=IncidentStatus, max_length=32)),
                ('is_major', fields.BooleanField(default=False)),
                ('assignee', fields.CharField(null=True, max_length=255)),
                ('declared_by', fields.CharField(null=True, max_length=255)),
                ('resolution_summary', fields.TextField(null=True, unique=False)),
                ('root_cause', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sla_response_due', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sla_resolve_due', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sla_paused_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sla_paused_seconds', fields.FloatField(default=0.0)),
                ('version', fields.IntField(default=1)),
                ('last_seq', fields.IntField(default=0)),
            ],
            options={'table': 'incident', 'app': 'models', 'unique_together': (('tenant', 'number'),), 'indexes': [Index(fields=['tenant_id', 'created_at']), Index(fields=['tenant_id', 'status']), Index(fields=['tenant_id', 'updated_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='outbox_messages', on_delete=OnDelete.CASCADE)),
                ('payload', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
            ],
            options={'table': 'outbox_message', 'app': 'models', 'indexes': [Index(fields=['sent_at', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TimelineEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='timeline_events', on_delete=OnDelete.CASCADE)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', db_constraint=True, to_field='id', related_name='timeline_events', on_delete=OnDelete.CASCADE)),
                ('seq', fields.IntField()),
                ('type', fields.CharField(max_length=128)),
                ('source', fields.CharField(max_length=255)),
                ('event_id', fields.CharField(max_length=255)),
                ('time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.CharField(null=True, max_length=255)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'timeline_event', 'app': 'models', 'unique_together': (('incident', 'seq'), ('tenant', 'source', 'event_id')), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
