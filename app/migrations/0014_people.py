from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.models.people import EscalationTier, TeamRole
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_sealed_secrets')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Team',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='teams', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=255)),
                ('name_key', fields.CharField(max_length=255)),
                ('tier', fields.CharEnumField(null=True, description='Tier', enum_type=EscalationTier, max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'team', 'app': 'models', 'unique_together': (('tenant_id', 'name_key'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='users', on_delete=OnDelete.CASCADE)),
                ('handle', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=255)),
                ('email', fields.CharField(max_length=320)),
                ('time_zone', fields.CharField(default='UTC', max_length=64)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('chat_ids', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'app_user', 'app': 'models', 'unique_together': (('tenant_id', 'handle'), ('tenant_id', 'email')), 'indexes': [Index(fields=['tenant_id', 'active'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TeamMember',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharEnumField(default=TeamRole.MEMBER, description='MEMBER: MEMBER\nLEAD: LEAD\nMANAGER: MANAGER', enum_type=TeamRole, max_length=16)),
                ('added_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'team_member', 'app': 'models', 'unique_together': (('team_id', 'user_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
