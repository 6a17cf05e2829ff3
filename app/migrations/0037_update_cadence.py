from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0036_reviews')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='update_due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Incident',
            name='update_due_noted',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['update_due_at']),
        ),
    ]
