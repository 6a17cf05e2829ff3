from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.change import ChangeStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0024_knowledge')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Change',
            name='outcome',
            field=fields.CharEnumField(null=True, description='REQUESTED: REQUESTED\nAPPROVED: APPROVED\nREJECTED: REJECTED\nSCHEDULED: SCHEDULED\nIN_PROGRESS: IN_PROGRESS\nIMPLEMENTED: IMPLEMENTED\nFAILED: FAILED\nROLLED_BACK: ROLLED_BACK\nCLOSED: CLOSED\nCANCELLED: CANCELLED', enum_type=ChangeStatus, max_length=16),
        ),
    ]
