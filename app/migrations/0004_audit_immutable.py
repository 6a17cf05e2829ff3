from tortoise import migrations
from tortoise.migrations import operations as ops

_FORBID = """
CREATE OR REPLACE FUNCTION audit_record_is_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records cannot be changed or deleted';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_record_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_record
    FOR EACH ROW EXECUTE FUNCTION audit_record_is_immutable();
"""

_ALLOW = """
DROP TRIGGER IF EXISTS audit_record_no_update_or_delete ON audit_record;
DROP FUNCTION IF EXISTS audit_record_is_immutable();
"""


async def forbid_changes(apps, schema_editor):
    if schema_editor.DIALECT == "postgres":
        await schema_editor.client.execute_script(_FORBID)


async def allow_changes(apps, schema_editor):
    if schema_editor.DIALECT == "postgres":
        await schema_editor.client.execute_script(_ALLOW)


class Migration(migrations.Migration):
    dependencies = [("models", "0003_audit_record")]

    operations = [ops.RunPython(forbid_changes, allow_changes)]
