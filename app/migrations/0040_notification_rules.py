from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.models.comms import Audience, RuleEvent
from json import dumps, loads
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0039_reopen_count')]

    initial = False

    operations = [
        ops.CreateModel(
            name='NotificationPreference',
            fields=[
                ('user_id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('channels', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('muted_events', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('quiet_start', fields.CharField(null=True, max_length=5)),
                ('quiet_end', fields.CharField(null=True, max_length=5)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification_preference', 'app': 'models', 'pk_attr': 'user_id', 'table_description': 'How one person wants to be notified: channels, muted events, quiet hours (in their'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NotificationRule',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=255)),
                ('event', fields.CharEnumField(description='DECLARED: DECLARED\nASSIGNED: ASSIGNED\nMENTIONED: MENTIONED\nESCALATED: ESCALATED\nSLA_WARNING: SLA_WARNING\nSLA_BREACHED: SLA_BREACHED\nRESOLVED: RESOLVED\nREVIEW_DUE: REVIEW_DUE\nUPDATE_DUE: UPDATE_DUE', enum_type=RuleEvent, max_length=32)),
                ('priorities', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('recipients', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('audience', fields.CharEnumField(null=True, description='END_USERS: END_USERS\nSTAKEHOLDERS: STAKEHOLDERS\nEXECUTIVES: EXECUTIVES\nIT_STAFF: IT_STAFF', enum_type=Audience, max_length=16)),
                ('channels', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('subject_template', fields.CharField(max_length=255)),
                ('body_template', fields.TextField(unique=False)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification_rule', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'event'])], 'pk_attr': 'id', 'table_description': 'Which event of an incident notifies whom, over which channels, with which words.'},
            bases=['Model'],
        ),
    ]
