from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0019_rotations')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Team',
            name='external_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='User',
            name='external_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='User',
            name='user_name',
            field=fields.CharField(null=True, max_length=320),
        ),
    ]
