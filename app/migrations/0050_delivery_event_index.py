from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0049_incident_channels')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='WebhookDelivery',
            index=Index(fields=['tenant_id', 'event_id']),
        ),
    ]
