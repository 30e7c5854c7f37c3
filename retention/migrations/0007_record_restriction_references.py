import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0006_disclosure_external_id_unique"),
    ]

    operations = [
        migrations.AddField(
            model_name="record",
            name="restriction_references",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=40),
                blank=True,
                db_default=[],
                default=list,
                size=None,
            ),
        ),
    ]
