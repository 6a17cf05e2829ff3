from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0032_escalation')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='drill_outcome',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Incident',
            name='drill_scenario',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Incident',
            name='drill_scope',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Incident',
            name='is_drill',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
