from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0031_playbooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EscalationPolicy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('priority', fields.CharField(max_length=4)),
                ('levels', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('escalate_on_breach', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'escalation_policy', 'app': 'models', 'unique_together': (('tenant_id', 'priority'),), 'pk_attr': 'id', 'table_description': "A tenant's escalation path for incidents of one priority: the levels in turn, each a"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Incident',
            name='escalated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Incident',
            name='escalation_due_reason',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Incident',
            name='escalation_level',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Incident',
            name='escalation_next_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['escalation_next_at']),
        ),
    ]
