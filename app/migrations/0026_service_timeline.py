from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0025_change_outcome')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Service',
            name='last_seq',
            field=fields.IntField(default=0, db_default=0),
        ),
    ]
