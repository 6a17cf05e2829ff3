from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0040_notification_rules')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ActionItem',
            name='reminded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='ActionItem',
            index=Index(fields=['reminded_at', 'due_at']),
        ),
    ]
