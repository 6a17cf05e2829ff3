import json

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def seal_secrets(apps, schema_editor):
    """Encrypt the ITSM secrets stored in the clear by earlier versions (the credentials'
    "secret" and the webhook secret), with the configured key (services/secret_box.py)."""
    from app.database import migration_settings
    from app.services.access import secret_box

    client = schema_editor.client
    postgres = schema_editor.DIALECT == "postgres"
    rows = await client.execute_query_dict(
        "SELECT id, credentials, webhook_secret FROM itsm_connection"
    )
    box = None
    for row in rows:
        credentials = row["credentials"]
        if isinstance(credentials, (str, bytes)):
            credentials = json.loads(credentials)
        credentials = dict(credentials or {})
        secret, webhook = credentials.get("secret"), row["webhook_secret"]
        clear = [v for v in (secret, webhook) if v and not secret_box.is_sealed(v)]
        if not clear:
            continue
        # Only now: a database with nothing to seal migrates without a key.
        box = box or secret_box.load(migration_settings())
        if secret and not secret_box.is_sealed(secret):
            credentials["secret"] = box.seal(secret)
        if webhook and not secret_box.is_sealed(webhook):
            webhook = box.seal(webhook)
        marks = ("$1", "$2", "$3") if postgres else ("?", "?", "?")
        await client.execute_query(
            f"UPDATE itsm_connection SET credentials = {marks[0]}, webhook_secret = {marks[1]} "
            f"WHERE id = {marks[2]}",
            [json.dumps(credentials), webhook, row["id"]],
        )


async def leave_sealed(apps, schema_editor):
    """Secrets stay encrypted: the key that opens them is the installation's."""


class Migration(migrations.Migration):
    dependencies = [("models", "0012_alert_keys_quarantine")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="ItsmConnection",
            name="webhook_secret",
            field=fields.TextField(null=True, unique=False),
        ),
        ops.RunPython(seal_secrets, leave_sealed),
    ]
