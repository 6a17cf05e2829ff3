from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.classification import Classification
from app.models.comms import Audience, CommunicationChannel, CommunicationDirection, DeliveryStatus
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0034_priority_override')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Communication',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('incident_id', fields.UUIDField()),
                ('short_ref', fields.CharField(max_length=20)),
                ('channel', fields.CharEnumField(description='EMAIL: EMAIL\nSLACK: SLACK\nWEBHOOK: WEBHOOK\nSMS: SMS\nPHONE: PHONE\nPAGERDUTY: PAGERDUTY\nMEETING: MEETING\nSTATUS_PAGE: STATUS_PAGE\nOTHER: OTHER', enum_type=CommunicationChannel, max_length=16)),
                ('direction', fields.CharEnumField(description='OUTBOUND: OUTBOUND\nINBOUND: INBOUND', enum_type=CommunicationDirection, max_length=16)),
                ('audience', fields.CharEnumField(null=True, description='END_USERS: END_USERS\nSTAKEHOLDERS: STAKEHOLDERS\nEXECUTIVES: EXECUTIVES\nIT_STAFF: IT_STAFF', enum_type=Audience, max_length=16)),
                ('recipient', fields.CharField(null=True, max_length=512)),
                ('message', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(description='PENDING: PENDING\nSENT: SENT\nFAILED: FAILED', enum_type=DeliveryStatus, max_length=16)),
                ('classification', fields.CharEnumField(default=Classification.INTERNAL, description='PUBLIC: PUBLIC\nINTERNAL: INTERNAL\nCONFIDENTIAL: CONFIDENTIAL\nRESTRICTED: RESTRICTED', enum_type=Classification, max_length=16)),
                ('external_id', fields.CharField(null=True, max_length=255)),
                ('error', fields.TextField(null=True, unique=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'communication', 'app': 'models', 'unique_together': (('tenant_id', 'short_ref'),), 'indexes': [Index(fields=['tenant_id', 'incident_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A message about an incident, with the short ref (REF-YYYYMMDD-XXXX) people quote.'},
            bases=['Model'],
        ),
    ]
