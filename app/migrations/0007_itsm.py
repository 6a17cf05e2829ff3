from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.models.itsm import ItsmProvider, SyncJobKind, SyncState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_board_fields')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InboundDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='itsm_deliveries', on_delete=OnDelete.CASCADE)),
                ('provider', fields.CharEnumField(description='ItsmProvider', enum_type=ItsmProvider, max_length=16)),
                ('delivery_id', fields.CharField(max_length=255)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'itsm_inbound_delivery', 'app': 'models', 'unique_together': (('tenant', 'provider', 'delivery_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ItsmConnection',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='itsm_connections', on_delete=OnDelete.CASCADE)),
                ('provider', fields.CharEnumField(description='ItsmProvider', enum_type=ItsmProvider, max_length=16)),
                ('base_url', fields.CharField(max_length=2048)),
                ('credentials', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('webhook_secret', fields.CharField(null=True, max_length=255)),
                ('project_key', fields.CharField(null=True, max_length=64)),
                ('mapping', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'itsm_connection', 'app': 'models', 'unique_together': (('tenant', 'provider'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LinkedTicket',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='linked_tickets', on_delete=OnDelete.CASCADE)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', db_constraint=True, to_field='id', related_name='linked_tickets', on_delete=OnDelete.CASCADE)),
                ('provider', fields.CharEnumField(description='ItsmProvider', enum_type=ItsmProvider, max_length=16)),
                ('external_key', fields.CharField(null=True, max_length=255)),
                ('number', fields.CharField(null=True, max_length=255)),
                ('url', fields.CharField(null=True, max_length=2048)),
                ('sync_state', fields.CharEnumField(default=SyncState.PENDING, description='SyncState', enum_type=SyncState, max_length=16)),
                ('last_synced_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('attempts', fields.IntField(default=0)),
                ('base', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('changed_at', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('external_updated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('conflicts', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'linked_ticket', 'app': 'models', 'unique_together': (('tenant', 'provider', 'external_key'),), 'indexes': [Index(fields=['tenant_id', 'incident_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SyncJob',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='itsm_sync_jobs', on_delete=OnDelete.CASCADE)),
                ('ticket', fields.ForeignKeyField('models.LinkedTicket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='SyncJobKind', enum_type=SyncJobKind, max_length=16)),
                ('fields_changed', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'itsm_sync_job', 'app': 'models', 'indexes': [Index(fields=['done_at', 'next_attempt_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
