from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_alerts')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LinkedTicket',
            name='external_version',
            field=fields.BigIntField(null=True),
        ),
    ]
