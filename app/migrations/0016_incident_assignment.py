from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0015_token_user')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='assigned_team_id',
            field=fields.UUIDField(null=True),
        ),
        ops.AddField(
            model_name='Incident',
            name='assigned_user_id',
            field=fields.UUIDField(null=True),
        ),
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['tenant_id', 'assigned_user_id']),
        ),
    ]
