from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_ticket_version')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Alert',
            index=Index(fields=['group_id', 'incident_id']),
        ),
        ops.AddIndex(
            model_name='AlertGroup',
            index=Index(fields=['incident_id']),
        ),
    ]
