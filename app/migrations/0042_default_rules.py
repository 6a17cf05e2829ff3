import json
import uuid
from datetime import UTC, datetime

from tortoise import migrations
from tortoise.migrations import operations as ops

# As app/services/comms/rules.py had them when this migration was written.
DEFAULT_RULES = (
    {
        "name": "Stakeholder update overdue",
        "event": "UPDATE_DUE",
        "recipients": ["COMMUNICATIONS_LEAD"],
        "channels": ["EMAIL", "SLACK"],
        "subject_template": "{reference}: a stakeholder update is due",
        "body_template": "{reference} ({priority}, {status}): {title}\n"
        "Stakeholders have had no update within the cadence for {priority}: post a PUBLIC "
        "note or send one.",
    },
)


# Tenants made before default rules: they get them now (unless one of that name exists).
async def add_defaults(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    tenants = [row["id"] for row in await client.execute_query_dict("SELECT id FROM tenant")]
    marks = (
        "$1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8, $9, TRUE, $10, $10"
        if postgres
        else "?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?"
    )
    insert = (
        "INSERT INTO notification_rule (id, tenant_id, name, event, priorities, recipients, "
        "channels, subject_template, body_template, enabled, created_at, updated_at) "
        f"VALUES ({marks})"
    )
    now = datetime.now(UTC)
    for tenant in tenants:
        for rule in DEFAULT_RULES:
            taken = await client.execute_query_dict(
                "SELECT 1 FROM notification_rule WHERE tenant_id = "
                + ("$1 AND name = $2" if postgres else "? AND name = ?"),
                [tenant, rule["name"]],
            )
            if taken:
                continue
            values = [
                str(uuid.uuid4()) if not postgres else uuid.uuid4(),
                tenant,
                rule["name"],
                str(rule["event"]),
                json.dumps([]),
                json.dumps(rule["recipients"]),
                json.dumps(rule["channels"]),
                rule["subject_template"],
                rule["body_template"],
                now if postgres else now.isoformat(" "),
            ]
            if not postgres:
                values.append(values[-1])
            await client.execute_query(insert, values)


async def keep(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [('models', '0041_action_item_reminders')]

    initial = False

    operations = [
        ops.RunPython(add_defaults, keep),
    ]
