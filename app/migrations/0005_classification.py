from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.classification import Classification
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_audit_immutable')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ApiToken',
            name='clearance',
            field=fields.CharEnumField(null=True, description='Classification', enum_type=Classification, max_length=16),
        ),
        ops.AddField(
            model_name='Incident',
            name='classification',
            field=fields.CharEnumField(default=Classification.INTERNAL, description='Classification', db_default=Classification.INTERNAL, enum_type=Classification, max_length=16),
        ),
        ops.AddField(
            model_name='TimelineEvent',
            name='classification',
            field=fields.CharEnumField(default=Classification.INTERNAL, description='Classification', db_default=Classification.INTERNAL, enum_type=Classification, max_length=16),
        ),
    ]
