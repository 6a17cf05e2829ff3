from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.classification import Classification
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_itsm')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ItsmConnection',
            name='export_notes_up_to',
            field=fields.CharEnumField(null=True, default=Classification.INTERNAL, description='Classification', db_default=Classification.INTERNAL, enum_type=Classification, max_length=16),
        ),
        ops.AddField(
            model_name='LinkedTicket',
            name='note_seq',
            field=fields.IntField(default=0, db_default=0),
        ),
    ]
