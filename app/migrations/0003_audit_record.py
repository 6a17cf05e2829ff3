from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_default_tenant')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='audit_records', on_delete=OnDelete.CASCADE)),
                ('time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.CharField(null=True, max_length=255)),
                ('token_id', fields.CharField(null=True, max_length=64)),
                ('request_id', fields.CharField(null=True, max_length=128)),
                ('action', fields.CharField(max_length=64)),
                ('target', fields.CharField(null=True, max_length=255)),
                ('changes', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'audit_record', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'time']), Index(fields=['tenant_id', 'action']), Index(fields=['tenant_id', 'target'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
