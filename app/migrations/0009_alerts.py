from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.models.alert import AlertStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_itsm_notes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AlertGroup',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='alert_groups', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=1024)),
                ('rule_id', fields.CharField(max_length=64)),
                ('generation', fields.IntField(default=1)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', null=True, db_constraint=True, to_field='id', related_name='alert_groups', on_delete=OnDelete.SET_NULL)),
                ('declare_pending', fields.BooleanField(default=False)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_alert_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('alert_count', fields.IntField(default=0)),
            ],
            options={'table': 'alert_group', 'app': 'models', 'unique_together': (('tenant', 'key'),), 'indexes': [Index(fields=['declare_pending'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Alert',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='alerts', on_delete=OnDelete.CASCADE)),
                ('source', fields.CharField(max_length=128)),
                ('fingerprint', fields.CharField(max_length=255)),
                ('active_key', fields.CharField(null=True, unique=True, max_length=512)),
                ('status', fields.CharEnumField(description='AlertStatus', enum_type=AlertStatus, max_length=16)),
                ('alertname', fields.CharField(null=True, max_length=255)),
                ('service', fields.CharField(null=True, max_length=255)),
                ('severity', fields.CharField(null=True, max_length=64)),
                ('title', fields.CharField(max_length=255)),
                ('description', fields.TextField(null=True, unique=False)),
                ('labels', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('annotations', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('url', fields.CharField(null=True, max_length=2048)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('first_received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('count', fields.IntField(default=1)),
                ('group', fields.ForeignKeyField('models.AlertGroup', source_field='group_id', null=True, db_constraint=True, to_field='id', related_name='alerts', on_delete=OnDelete.SET_NULL)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', null=True, db_constraint=True, to_field='id', related_name='alerts', on_delete=OnDelete.SET_NULL)),
                ('pending_event', fields.CharField(null=True, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'alert', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'source', 'fingerprint']), Index(fields=['tenant_id', 'last_received_at']), Index(fields=['tenant_id', 'incident_id']), Index(fields=['pending_event', 'incident_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AlertIntake',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='alert_intake', on_delete=OnDelete.CASCADE)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'alert_intake', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CorrelationRule',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='correlation_rules', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=255)),
                ('position', fields.IntField()),
                ('enabled', fields.BooleanField(default=True)),
                ('matchers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('group_by', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('window_seconds', fields.IntField()),
                ('auto_declare', fields.BooleanField(default=True)),
                ('min_alerts', fields.IntField(default=1)),
                ('severity', fields.CharField(null=True, max_length=16)),
                ('impact', fields.CharField(max_length=16)),
                ('urgency', fields.CharField(max_length=16)),
                ('title_template', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'correlation_rule', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'position'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Lease',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=255)),
                ('owner', fields.CharField(max_length=128)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'lease', 'app': 'models', 'pk_attr': 'name'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Incident',
            name='merged_into_id',
            field=fields.UUIDField(null=True),
        ),
    ]
