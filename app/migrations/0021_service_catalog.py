from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.catalog import ServiceTier
from tortoise.fields.base import OnDelete
from datetime import UTC, datetime
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

# Incidents named their service as free text; each distinct name (per tenant, whatever its
# case) becomes a service of the catalog, linked to the incidents that named it.
async def services_from_incidents(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    marks = (lambda n: ", ".join(f"${i}" for i in range(1, n + 1))) if postgres else (
        lambda n: ", ".join("?" * n)
    )
    rows = await client.execute_query_dict(
        "SELECT tenant_id, service, id FROM incident WHERE service IS NOT NULL "
        "ORDER BY created_at"
    )
    services: dict[tuple[str, str], str] = {}
    now = datetime.now(UTC)
    for row in rows:
        name = str(row["service"]).strip()
        if not name:
            continue
        key = (row["tenant_id"], name.lower())
        if key not in services:
            services[key] = str(uuid4())
            await client.execute_query(
                "INSERT INTO service (id, tenant_id, name, name_key, tier, created_at, "
                f"updated_at) VALUES ({marks(7)})",
                [services[key], key[0], name, key[1], "TIER_3", now, now],
            )
        await client.execute_query(
            f"INSERT INTO incident_service (tenant_id, incident_id, service_id) VALUES ({marks(3)})",
            [key[0], str(row["id"]), services[key]],
        )


async def no_services(apps, schema_editor):
    await schema_editor.client.execute_script("DELETE FROM incident_service; DELETE FROM service")


class Migration(migrations.Migration):
    dependencies = [('models', '0020_scim_ids')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Service',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='services', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=255)),
                ('name_key', fields.CharField(max_length=255)),
                ('description', fields.TextField(null=True, unique=False)),
                ('tier', fields.CharEnumField(default=ServiceTier.TIER_3, description='TIER_1: TIER_1\nTIER_2: TIER_2\nTIER_3: TIER_3', enum_type=ServiceTier, max_length=16)),
                ('owner', fields.ForeignKeyField('models.Team', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='services', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'service', 'app': 'models', 'unique_together': (('tenant_id', 'name_key'),), 'pk_attr': 'id', 'table_description': 'A business or technical service incidents affect (the service catalog).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IncidentService',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('incident_id', fields.UUIDField()),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='incident_links', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'incident_service', 'app': 'models', 'unique_together': (('incident_id', 'service_id'),), 'indexes': [Index(fields=['tenant_id', 'service_id'])], 'pk_attr': 'id', 'table_description': 'An incident affects a service.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceDependency',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.CharField(max_length=64)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='dependencies', on_delete=OnDelete.CASCADE)),
                ('depends_on', fields.ForeignKeyField('models.Service', source_field='depends_on_id', db_constraint=True, to_field='id', related_name='dependents', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'service_dependency', 'app': 'models', 'unique_together': (('service_id', 'depends_on_id'),), 'pk_attr': 'id', 'table_description': '`service` depends on `depends_on`: an outage of the second may cause one of the first.'},
            bases=['Model'],
        ),
        ops.RunPython(services_from_incidents, no_services),
    ]
