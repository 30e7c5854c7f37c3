"""Identity is proven per matched data subject, not per request (issue 12).

* A request's matches become one row per subject: `methods` lists every identifier
  that matched it, `method` keeps the strongest (e-mail, personnummer, customer
  number). Existing rows of the same subject are merged into one.
* `proven_by`: `email` where the verified e-mail address matched the subject,
  else `none`. `included`: true.
* `IdentityCheck.match`: the match a staff identity check proves. Checks recorded
  before this migration keep no match: they stay as history and prove nobody,
  because a request-level check never said whose identity was checked (treating
  it as proof for every match would carry the unsafe behaviour over).
* `CorrectionDecision.withheld`: an accepted correction not applied because its
  record is restricted or held.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

MERGE_MATCHES = """
UPDATE requests_app_requestsubjectmatch m
   SET methods = agg.methods,
       proven_by = CASE WHEN 'email' = ANY(agg.methods) THEN 'email' ELSE 'none' END
  FROM (SELECT request_id, subject_id,
               array_agg(method ORDER BY CASE method WHEN 'email' THEN 0
                                                     WHEN 'personnummer' THEN 1
                                                     ELSE 2 END) AS methods
          FROM requests_app_requestsubjectmatch
         GROUP BY request_id, subject_id) agg
 WHERE m.request_id = agg.request_id AND m.subject_id = agg.subject_id;
DELETE FROM requests_app_requestsubjectmatch WHERE method <> methods[1];
"""


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0008_outbox_redelivery"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="requestsubjectmatch",
            name="request_match_unique",
        ),
        migrations.AddField(
            model_name="requestsubjectmatch",
            name="methods",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=20), blank=True, default=list, size=None
            ),
        ),
        migrations.AddField(
            model_name="requestsubjectmatch",
            name="included",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="requestsubjectmatch",
            name="proven_by",
            field=models.CharField(
                choices=[
                    ("none", "not proven"),
                    ("email", "the verified e-mail address matched it"),
                    ("identity_check", "an identity check by staff"),
                ],
                default="none",
                max_length=20,
            ),
        ),
        migrations.RunSQL(MERGE_MATCHES, reverse_sql=migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="requestsubjectmatch",
            constraint=models.UniqueConstraint(
                fields=("request", "subject"), name="request_match_subject"
            ),
        ),
        migrations.AddField(
            model_name="identitycheck",
            name="match",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="identity_checks",
                to="requests_app.requestsubjectmatch",
            ),
        ),
        migrations.AddField(
            model_name="correctiondecision",
            name="withheld",
            field=models.CharField(blank=True, max_length=20),
        ),
    ]
