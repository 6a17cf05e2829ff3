from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.incident import Priority
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0033_drills')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='derived_priority',
            field=fields.CharEnumField(null=True, description='P1: P1\nP2: P2\nP3: P3\nP4: P4\nP5: P5', enum_type=Priority, max_length=16),
        ),
        ops.AddField(
            model_name='Incident',
            name='priority_override_reason',
            field=fields.TextField(null=True, unique=False),
        ),
    ]
