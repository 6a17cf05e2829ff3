from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0046_quotas')]

    initial = False

    operations = [
        ops.AddField(
            model_name='NotificationSettings',
            name='slack_signing_secret',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='NotificationSettings',
            name='slack_team_id',
            field=fields.CharField(null=True, unique=True, max_length=32),
        ),
    ]
