from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0017_user_identity')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Mention',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='mentions', on_delete=OnDelete.CASCADE)),
                ('incident_id', fields.UUIDField()),
                ('seq', fields.IntField()),
                ('event_id', fields.UUIDField()),
                ('actor', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mention', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'user_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A user @mentioned in a note: what waits for them, and what notifications follow.'},
            bases=['Model'],
        ),
    ]
