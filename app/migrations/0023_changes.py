from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.change import ChangeRelation, ChangeStatus, ChangeType, Risk
from app.models.classification import Classification
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0022_problems')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Change',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='changes', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('title', fields.CharField(max_length=255)),
                ('description', fields.TextField(null=True, unique=False)),
                ('type', fields.CharEnumField(description='STANDARD: STANDARD\nNORMAL: NORMAL\nEMERGENCY: EMERGENCY', enum_type=ChangeType, max_length=16)),
                ('risk', fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH', enum_type=Risk, max_length=16)),
                ('status', fields.CharEnumField(description='REQUESTED: REQUESTED\nAPPROVED: APPROVED\nREJECTED: REJECTED\nSCHEDULED: SCHEDULED\nIN_PROGRESS: IN_PROGRESS\nIMPLEMENTED: IMPLEMENTED\nFAILED: FAILED\nROLLED_BACK: ROLLED_BACK\nCLOSED: CLOSED\nCANCELLED: CANCELLED', enum_type=ChangeStatus, max_length=16)),
                ('classification', fields.CharEnumField(default=Classification.INTERNAL, description='PUBLIC: PUBLIC\nINTERNAL: INTERNAL\nCONFIDENTIAL: CONFIDENTIAL\nRESTRICTED: RESTRICTED', enum_type=Classification, max_length=16)),
                ('requested_by', fields.CharField(null=True, max_length=255)),
                ('approved_by', fields.CharField(null=True, max_length=255)),
                ('approved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('planned_start', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('planned_end', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
                ('last_seq', fields.IntField(default=0)),
            ],
            options={'table': 'change', 'app': 'models', 'unique_together': (('tenant_id', 'number'),), 'indexes': [Index(fields=['tenant_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A change to production (ITIL change enablement): CHG-<number>.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChangeLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('change', fields.ForeignKeyField('models.Change', source_field='change_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('incident_id', fields.UUIDField(null=True)),
                ('problem_id', fields.UUIDField(null=True)),
                ('relation', fields.CharEnumField(description='FIXES: FIXES\nCAUSED_BY: CAUSED_BY', enum_type=ChangeRelation, max_length=16)),
                ('linked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'change_link', 'app': 'models', 'unique_together': (('change_id', 'incident_id', 'problem_id'),), 'indexes': [Index(fields=['tenant_id', 'incident_id']), Index(fields=['tenant_id', 'problem_id'])], 'pk_attr': 'id', 'table_description': 'A change linked to an incident or a problem, and how.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChangeService',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('change', fields.ForeignKeyField('models.Change', source_field='change_id', db_constraint=True, to_field='id', related_name='service_links', on_delete=OnDelete.CASCADE)),
                ('service_id', fields.UUIDField()),
            ],
            options={'table': 'change_service', 'app': 'models', 'unique_together': (('change_id', 'service_id'),), 'indexes': [Index(fields=['tenant_id', 'service_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
