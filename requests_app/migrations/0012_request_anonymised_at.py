from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0011_extended_due_date_from_receipt"),
    ]

    operations = [
        migrations.AddField(
            model_name="subjectrequest",
            name="anonymised_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="subjectrequest",
            index=models.Index(
                condition=models.Q(
                    ("anonymised_at__isnull", True),
                    ("status__in", ["completed", "refused", "cancelled", "linked"]),
                ),
                fields=["organisation", "id"],
                name="request_closed_kept",
            ),
        ),
    ]
