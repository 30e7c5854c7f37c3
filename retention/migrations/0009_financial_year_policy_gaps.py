from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0008_erasure_tombstones"),
    ]

    operations = [
        migrations.AddField(
            model_name="organisation",
            name="financial_year_end",
            field=models.CharField(default="12-31", max_length=5),
        ),
        migrations.AddField(
            model_name="organisation",
            name="policy_gaps",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="retentionrule",
            name="end_of_financial_year",
            field=models.BooleanField(default=False),
        ),
    ]
