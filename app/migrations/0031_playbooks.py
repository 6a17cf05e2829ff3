from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0030_sla_marks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Playbook',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=255)),
                ('name_key', fields.CharField(max_length=255)),
                ('description', fields.TextField(null=True, unique=False)),
                ('version', fields.IntField(default=1)),
                ('tasks', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('match_categories', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('match_severities', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('match_service_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('auto_apply', fields.BooleanField(default=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_by', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'playbook', 'app': 'models', 'unique_together': (('tenant_id', 'name_key'),), 'pk_attr': 'id', 'table_description': "A tenant's template of tasks for a kind of incident, applied by hand or on"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PlaybookApplication',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('incident_id', fields.UUIDField()),
                ('playbook', fields.ForeignKeyField('models.Playbook', source_field='playbook_id', db_constraint=True, to_field='id', related_name='applications', on_delete=OnDelete.CASCADE)),
                ('version', fields.IntField()),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('applied_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failure', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'playbook_application', 'app': 'models', 'unique_together': (('incident_id', 'playbook_id', 'version'),), 'indexes': [Index(fields=['applied_at'])], 'pk_attr': 'id', 'table_description': "A playbook's version applied to an incident, once: `applied_at` null while a"},
            bases=['Model'],
        ),
    ]
