"""Records an earlier sweep "reduced" to none of the fields its overriding rule keeps.

Before issue 13, a sweep reduced every record of an overridden rule (Coachen's
`customer`, Prokompetens's `subscription_end`) to the bookkeeping fields, also
records that had none of them (health notes, contact details): they were left
as `{}` under the bookkeeping rule, often with no expiry. They hold nothing a
law keeps, so they go now, as the sweep deletes such records from now on
(disclosures keep their history without the record). Records under a legal
hold or an Art. 18 restriction are left for the sweep to handle once that
ends. Subjects left with no record are deleted by the next sweep.
"""

from django.db import migrations

SQL = """
WITH empty AS (
    SELECT r.id
      FROM retention_record r
      JOIN retention_retentionrule rr ON rr.id = r.rule_id
     WHERE EXISTS (SELECT 1 FROM retention_retentionrule_overrides x
                    WHERE x.from_retentionrule_id = r.rule_id)
       AND NOT EXISTS (SELECT 1 FROM jsonb_each(r.data) e
                        WHERE rr.fields ? e.key AND e.value NOT IN ('null'::jsonb, '""'::jsonb))
       AND r.restriction_ground NOT LIKE 'art18%'
       AND cardinality(r.restriction_references) = 0
       AND NOT EXISTS (
           SELECT 1 FROM retention_legalhold h
            WHERE h.organisation_id = r.organisation_id AND h.lifted_at IS NULL
              AND (h.ends_at IS NULL OR h.ends_at > now())
              AND (h.subject_id IS NULL OR h.subject_id = r.subject_id)
              AND (h.category_id IS NULL OR h.category_id = r.category_id))
),
unlinked AS (
    UPDATE retention_disclosure d SET record_id = NULL FROM empty WHERE d.record_id = empty.id
)
DELETE FROM retention_record r USING empty WHERE r.id = empty.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0009_financial_year_policy_gaps"),
    ]

    operations = [migrations.RunSQL(SQL, reverse_sql=migrations.RunSQL.noop)]
