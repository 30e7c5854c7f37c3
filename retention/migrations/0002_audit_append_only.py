"""The database itself refuses UPDATE and DELETE on the audit trail.

TRUNCATE is left to privileges (the test suite's flush uses it): in
production, revoke TRUNCATE on retention_auditentry from the portal's role.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION retention_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'retention_auditentry is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER retention_auditentry_append_only
    BEFORE UPDATE OR DELETE ON retention_auditentry
    FOR EACH ROW EXECUTE FUNCTION retention_audit_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS retention_auditentry_append_only ON retention_auditentry;
DROP FUNCTION IF EXISTS retention_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("retention", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
