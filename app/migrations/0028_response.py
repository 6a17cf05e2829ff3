from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.response import IncidentRole, TaskStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0027_problem_trigrams')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RoleAssignment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('incident_id', fields.UUIDField()),
                ('role', fields.CharEnumField(description='COMMANDER: COMMANDER\nCOMMUNICATIONS_LEAD: COMMUNICATIONS_LEAD\nSCRIBE: SCRIBE\nLIAISON: LIAISON\nSUBJECT_MATTER_EXPERT: SUBJECT_MATTER_EXPERT', enum_type=IncidentRole, max_length=32)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='incident_roles', on_delete=OnDelete.CASCADE)),
                ('assigned_by', fields.CharField(null=True, max_length=255)),
                ('assigned_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'incident_role', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'incident_id']), Index(fields=['tenant_id', 'user_id'])], 'pk_attr': 'id', 'table_description': 'A user holds a role on an incident from `assigned_at` until `ended_at` (null: now).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Task',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('incident_id', fields.UUIDField()),
                ('number', fields.IntField()),
                ('title', fields.CharField(max_length=255)),
                ('description', fields.TextField(null=True, unique=False)),
                ('group', fields.CharField(null=True, max_length=64)),
                ('position', fields.IntField(default=0)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.SET_NULL)),
                ('status', fields.CharEnumField(default=TaskStatus.TODO, description='TODO: TODO\nIN_PROGRESS: IN_PROGRESS\nBLOCKED: BLOCKED\nDONE: DONE\nSKIPPED: SKIPPED', enum_type=TaskStatus, max_length=16)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('estimated_hours', fields.FloatField(null=True)),
                ('playbook_id', fields.UUIDField(null=True)),
                ('created_by', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'task', 'app': 'models', 'unique_together': (('incident_id', 'number'),), 'indexes': [Index(fields=['tenant_id', 'incident_id']), Index(fields=['tenant_id', 'owner_id'])], 'pk_attr': 'id', 'table_description': 'A piece of the response to an incident: TASK-<number> within the incident.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TaskDependency',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='dependencies', on_delete=OnDelete.CASCADE)),
                ('depends_on', fields.ForeignKeyField('models.Task', source_field='depends_on_id', db_constraint=True, to_field='id', related_name='dependents', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'task_dependency', 'app': 'models', 'unique_together': (('task_id', 'depends_on_id'),), 'pk_attr': 'id', 'table_description': '`task` cannot be DONE before `depends_on` is DONE or SKIPPED (same incident).'},
            bases=['Model'],
        ),
    ]
