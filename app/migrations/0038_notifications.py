from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0037_update_cadence')]

    initial = False

    operations = [
        ops.CreateModel(
            name='NotificationSettings',
            fields=[
                ('tenant_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('email_from', fields.CharField(null=True, max_length=320)),
                ('slack_webhook_url', fields.TextField(null=True, unique=False)),
                ('slack_bot_token', fields.TextField(null=True, unique=False)),
                ('slack_api_url', fields.CharField(default='https://slack.com/api', max_length=2048)),
                ('slack_channel', fields.CharField(null=True, max_length=255)),
                ('webhook_url', fields.CharField(null=True, max_length=2048)),
                ('webhook_secret', fields.TextField(null=True, unique=False)),
                ('pagerduty_routing_key', fields.TextField(null=True, unique=False)),
                ('pagerduty_events_url', fields.CharField(default='https://events.pagerduty.com/v2/enqueue', max_length=2048)),
                ('audiences', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification_settings', 'app': 'models', 'pk_attr': 'tenant_id', 'table_description': "Where a tenant's outbound messages go: its Slack workspace, its webhook receiver,"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Communication',
            name='action',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='Communication',
            name='attempts',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Communication',
            name='next_attempt_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Communication',
            name='send_id',
            field=fields.UUIDField(null=True),
        ),
        ops.AddField(
            model_name='Communication',
            name='subject',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddIndex(
            model_name='Communication',
            index=Index(fields=['status', 'next_attempt_at']),
        ),
    ]
