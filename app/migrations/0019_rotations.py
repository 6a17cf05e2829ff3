from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0018_mention')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Rotation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', db_constraint=True, to_field='id', related_name='rotations', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=255)),
                ('layers', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'rotation', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'team_id'])], 'pk_attr': 'id', 'table_description': "A team's on-call rotation: layers of participants handing over on a schedule."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RotationOverride',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('rotation', fields.ForeignKeyField('models.Rotation', source_field='rotation_id', db_constraint=True, to_field='id', related_name='overrides', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='overrides', on_delete=OnDelete.CASCADE)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'rotation_override', 'app': 'models', 'indexes': [Index(fields=['rotation_id', 'ends_at'])], 'pk_attr': 'id', 'table_description': 'Someone else on call in a rotation for a period.'},
            bases=['Model'],
        ),
    ]
