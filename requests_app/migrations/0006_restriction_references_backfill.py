"""Tell each record restricted under Art. 18 which requests restricted it.

`Record.restriction_references` is new: lifting a request's restriction now
lifts only the records carrying that request's reference. The records
restricted before it came get the references of the restriction requests
that cover them, as `restriction_apply` would have written them: a started
restriction request matched to the record's subject, for the record's
category (or all categories), for a record that existed when the request was
carried out. A request whose restriction was lifted is left out, and so is
one followed by a lift for the same subject (lifting used to end every Art. 18
restriction of the subject).
"""

from django.db import migrations

BACKFILL = """
UPDATE retention_record r
   SET restriction_references = ARRAY(
       SELECT q.reference
         FROM requests_app_subjectrequest q
         JOIN requests_app_fulfilment f ON f.request_id = q.id
        WHERE q.kind = 'restriction'
          AND q.organisation_id = r.organisation_id
          AND f.started_at IS NOT NULL
          AND r.created_at <= f.started_at
          AND EXISTS (
              SELECT 1 FROM requests_app_requestsubjectmatch m
               WHERE m.request_id = q.id AND m.subject_id = r.subject_id
          )
          AND CASE WHEN jsonb_typeof(q.details -> 'categories') = 'array'
                        AND jsonb_array_length(q.details -> 'categories') > 0
                   THEN (q.details -> 'categories') ? (
                       SELECT c.key FROM retention_datacategory c WHERE c.id = r.category_id
                   )
                   ELSE true END
          AND NOT EXISTS (
              SELECT 1 FROM requests_app_restrictionlift l
                JOIN requests_app_requestsubjectmatch lm ON lm.request_id = l.request_id
               WHERE lm.subject_id = r.subject_id
                 AND l.lifted_at IS NOT NULL AND l.lifted_at >= f.started_at
          )
        ORDER BY q.id
   )
 WHERE r.restricted_at IS NOT NULL
   AND r.restriction_ground LIKE 'art18%'
   AND r.restriction_references = '{}'
"""


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0005_queue_order_indexes"),
        ("retention", "0007_record_restriction_references"),
    ]

    operations = [migrations.RunSQL(BACKFILL, migrations.RunSQL.noop)]
