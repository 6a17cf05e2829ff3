from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_classification')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='commander',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='Incident',
            name='last_public_update_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Incident',
            name='public_summary',
            field=fields.TextField(null=True, unique=False),
        ),
    ]
