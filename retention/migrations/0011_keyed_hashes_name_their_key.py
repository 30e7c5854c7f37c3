"""Keyed hashes name their key: ``kid$hex`` (retention.keyring).

Suppressions and erasure tombstones stored before were made with keys derived
from SECRET_KEY; they are marked with the id of that derivation (``derived``),
so they stay valid as long as the keyring lists it (with DEBUG=true it does
by default; in production add the entry `python manage.py hmac_key --derived`
prints, before SECRET_KEY is ever rotated).
"""

import django.contrib.postgres.fields
from django.db import migrations, models

FORWARD = """
UPDATE retention_suppression SET value_hash = 'derived$' || value_hash
 WHERE position('$' in value_hash) = 0;
UPDATE retention_erasuretombstone
   SET identifier_hashes = ARRAY(
       SELECT CASE WHEN position('$' in h) = 0 THEN 'derived$' || h ELSE h END
         FROM unnest(identifier_hashes) WITH ORDINALITY AS u(h, n) ORDER BY n)
 WHERE EXISTS (SELECT 1 FROM unnest(identifier_hashes) h WHERE position('$' in h) = 0);
"""

BACKWARD = """
UPDATE retention_suppression SET value_hash = substr(value_hash, 9)
 WHERE value_hash LIKE 'derived$%';
UPDATE retention_erasuretombstone
   SET identifier_hashes = ARRAY(
       SELECT CASE WHEN h LIKE 'derived$%' THEN substr(h, 9) ELSE h END
         FROM unnest(identifier_hashes) WITH ORDINALITY AS u(h, n) ORDER BY n);
"""


class Migration(migrations.Migration):
    dependencies = [("retention", "0010_delete_records_reduced_to_nothing")]

    operations = [
        migrations.AlterField(
            model_name="suppression",
            name="value_hash",
            field=models.CharField(max_length=81),
        ),
        migrations.AlterField(
            model_name="erasuretombstone",
            name="identifier_hashes",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=81), size=None
            ),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
