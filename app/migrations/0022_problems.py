from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.models.classification import Classification
from app.models.problem import ProblemStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0021_service_catalog')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Problem',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='problems', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('title', fields.CharField(max_length=255)),
                ('description', fields.TextField(null=True, unique=False)),
                ('status', fields.CharEnumField(default=ProblemStatus.NEW, description='NEW: NEW\nUNDER_INVESTIGATION: UNDER_INVESTIGATION\nKNOWN_ERROR: KNOWN_ERROR\nRESOLVED: RESOLVED\nCLOSED: CLOSED', enum_type=ProblemStatus, max_length=32)),
                ('known_error', fields.BooleanField(default=False)),
                ('workaround', fields.TextField(null=True, unique=False)),
                ('root_cause', fields.TextField(null=True, unique=False)),
                ('resolution_evidence', fields.TextField(null=True, unique=False)),
                ('classification', fields.CharEnumField(default=Classification.INTERNAL, description='PUBLIC: PUBLIC\nINTERNAL: INTERNAL\nCONFIDENTIAL: CONFIDENTIAL\nRESTRICTED: RESTRICTED', enum_type=Classification, max_length=16)),
                ('created_by', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_incident_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
                ('last_seq', fields.IntField(default=0)),
            ],
            options={'table': 'problem', 'app': 'models', 'unique_together': (('tenant_id', 'number'),), 'indexes': [Index(fields=['tenant_id', 'status'])], 'pk_attr': 'id', 'table_description': 'The cause behind one or more incidents (ITIL problem management): PRB-<number>.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProblemIncident',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('problem', fields.ForeignKeyField('models.Problem', source_field='problem_id', db_constraint=True, to_field='id', related_name='incident_links', on_delete=OnDelete.CASCADE)),
                ('incident_id', fields.UUIDField()),
                ('linked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'problem_incident', 'app': 'models', 'unique_together': (('problem_id', 'incident_id'),), 'indexes': [Index(fields=['tenant_id', 'incident_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProblemService',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('problem', fields.ForeignKeyField('models.Problem', source_field='problem_id', db_constraint=True, to_field='id', related_name='service_links', on_delete=OnDelete.CASCADE)),
                ('service_id', fields.UUIDField()),
            ],
            options={'table': 'problem_service', 'app': 'models', 'unique_together': (('problem_id', 'service_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecordEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('record_type', fields.CharField(max_length=32)),
                ('record_id', fields.UUIDField()),
                ('seq', fields.IntField()),
                ('type', fields.CharField(max_length=128)),
                ('source', fields.CharField(max_length=255)),
                ('event_id', fields.CharField(max_length=255)),
                ('time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.CharField(null=True, max_length=255)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'record_event', 'app': 'models', 'unique_together': (('record_id', 'seq'), ('tenant_id', 'source', 'event_id')), 'pk_attr': 'id', 'table_description': 'One CloudEvents v1.0 event on the timeline of a record around the incident (a problem,'},
            bases=['Model'],
        ),
    ]
