from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.models.comms import ActionItemStatus, ReviewStatus
from json import dumps, loads
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0035_communications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ActionItem',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('incident_id', fields.UUIDField()),
                ('title', fields.CharField(max_length=255)),
                ('owner_id', fields.UUIDField(null=True)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=ActionItemStatus.OPEN, description='OPEN: OPEN\nIN_PROGRESS: IN_PROGRESS\nDONE: DONE\nCANCELLED: CANCELLED', enum_type=ActionItemStatus, max_length=16)),
                ('link', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'action_item', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'incident_id']), Index(fields=['tenant_id', 'status', 'due_at'])], 'pk_attr': 'id', 'table_description': 'Something a review says must be done, with an owner and a due date.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PostIncidentReview',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('incident_id', fields.UUIDField()),
                ('version', fields.IntField(default=1)),
                ('status', fields.CharEnumField(default=ReviewStatus.DRAFT, description='DRAFT: DRAFT\nIN_REVIEW: IN_REVIEW\nPUBLISHED: PUBLISHED', enum_type=ReviewStatus, max_length=16)),
                ('summary', fields.TextField(null=True, unique=False)),
                ('customer_impact', fields.TextField(null=True, unique=False)),
                ('timeline_excerpt', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('contributing_factors', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('went_well', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('went_badly', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('residual_risk', fields.TextField(null=True, unique=False)),
                ('training_needs', fields.TextField(null=True, unique=False)),
                ('created_by', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('published_by', fields.CharField(null=True, max_length=255)),
            ],
            options={'table': 'post_incident_review', 'app': 'models', 'unique_together': (('incident_id', 'version'),), 'indexes': [Index(fields=['tenant_id', 'incident_id'])], 'pk_attr': 'id', 'table_description': 'What was learnt from an incident, one version a row: a published version is never'},
            bases=['Model'],
        ),
    ]
