from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# Firing alerts' keys were "tenant|source|fingerprint", which two identities could share
# (source "a|b" with id "c", source "a" with id "b|c"); they become the unambiguous
# "len:tenant|len:source|fingerprint" of services/alerts/batch.py active_key. Lengths count
# characters on both backends, as Python's len() does. No new key can equal an old one while
# the statement runs (a tenant id holds no ":"), so the unique index holds row by row.
_ENCODE = (
    "UPDATE alert SET active_key = CAST(length(tenant_id) AS TEXT) || ':' || tenant_id || '|' "
    "|| CAST(length(source) AS TEXT) || ':' || source || '|' || fingerprint "
    "WHERE active_key IS NOT NULL"
)
# Back to the old form, for a downgrade.
_DECODE = (
    "UPDATE alert SET active_key = tenant_id || '|' || source || '|' || fingerprint "
    "WHERE active_key IS NOT NULL"
)


async def encode_keys(apps, schema_editor):
    await schema_editor.client.execute_script(_ENCODE)


async def decode_keys(apps, schema_editor):
    await schema_editor.client.execute_script(_DECODE)


class Migration(migrations.Migration):
    dependencies = [('models', '0011_alert_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AlertQuarantine',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='alert_quarantine', on_delete=OnDelete.CASCADE)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('quarantined_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('error', fields.CharField(max_length=1024)),
            ],
            options={'table': 'alert_quarantine', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.RunPython(encode_keys, decode_keys),
    ]
