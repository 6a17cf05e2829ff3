from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0047_slack_chatops')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='legal_hold',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Tenant',
            name='legal_hold',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Tenant',
            name='purge_after_days',
            field=fields.IntField(default=2557, db_default=2557),
        ),
        ops.AddField(
            model_name='Tenant',
            name='readonly_after_days',
            field=fields.IntField(null=True),
        ),
    ]
