from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.comms import RuleEvent
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0042_default_rules')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='NotificationRule',
            name='event',
            field=fields.CharEnumField(description='RuleEvent', enum_type=RuleEvent, max_length=32),
        ),
    ]
