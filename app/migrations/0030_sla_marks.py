from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index
from datetime import UTC, datetime
from types import SimpleNamespace

from app.services.incidents import sla_marks

_CLOCK_COLUMNS = (
    "created_at", "acknowledged_at", "resolved_at", "cancelled_at", "sla_response_due",
    "sla_resolve_due", "sla_paused_since",
)


def _time(value):
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# The incidents under way when SLA marks began: place their next mark (one that fell
# already is written at the next start, with how late it is).
async def place_marks(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    rows = await client.execute_query_dict(
        f"SELECT id, sla_paused_seconds, {', '.join(_CLOCK_COLUMNS)} FROM incident "
        "WHERE status NOT IN ('CLOSED', 'CANCELLED')"
    )
    update = (
        "UPDATE incident SET sla_next_at = $1 WHERE id = $2"
        if postgres
        else "UPDATE incident SET sla_next_at = ? WHERE id = ?"
    )
    for row in rows:
        clocks = SimpleNamespace(
            **{name: _time(row[name]) for name in _CLOCK_COLUMNS},
            sla_paused_seconds=float(row["sla_paused_seconds"] or 0.0),
            sla_fired=0,
        )
        at = sla_marks.next_at(clocks)
        if at is not None:
            value = at if postgres else at.isoformat(" ")
            await client.execute_query(update, [value, row["id"]])


async def no_marks(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [('models', '0029_incident_category')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Incident',
            name='sla_fired',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Incident',
            name='sla_next_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['sla_next_at']),
        ),
        ops.RunPython(place_marks, no_marks),
    ]
