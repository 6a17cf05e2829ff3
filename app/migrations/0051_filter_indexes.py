from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0050_delivery_event_index')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['tenant_id', 'assigned_team_id']),
        ),
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['tenant_id', 'resolved_at']),
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['tenant_id', 'status', 'incident_id']),
        ),
    ]
