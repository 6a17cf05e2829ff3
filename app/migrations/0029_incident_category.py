from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.incident import DetectionSource, IncidentCategory
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0028_response')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='category',
            field=fields.CharEnumField(null=True, description='HARDWARE: HARDWARE\nSOFTWARE: SOFTWARE\nNETWORK: NETWORK\nSECURITY: SECURITY\nPERFORMANCE: PERFORMANCE\nOTHER: OTHER', enum_type=IncidentCategory, max_length=16),
        ),
        ops.AddField(
            model_name='Incident',
            name='detection_source',
            field=fields.CharEnumField(null=True, description='USER_REPORT: USER_REPORT\nMONITORING_TOOL: MONITORING_TOOL\nAUTOMATED_ALERT: AUTOMATED_ALERT', enum_type=DetectionSource, max_length=32),
        ),
        ops.AddField(
            model_name='Incident',
            name='subcategory',
            field=fields.CharField(null=True, max_length=128),
        ),
    ]
