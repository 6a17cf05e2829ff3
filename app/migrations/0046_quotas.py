from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.models.tenant import Plan
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0045_webhooks')]

    initial = False

    operations = [
        ops.AddField(
            model_name='FeedCounter',
            name='month',
            field=fields.CharField(default='', db_default='', max_length=7),
        ),
        ops.AddField(
            model_name='FeedCounter',
            name='month_events',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Tenant',
            name='limits',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Tenant',
            name='plan',
            field=fields.CharEnumField(default=Plan.ENTERPRISE, description='Plan', db_default=Plan.ENTERPRISE, enum_type=Plan, max_length=16),
        ),
    ]
