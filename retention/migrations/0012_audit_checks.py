from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("retention", "0011_keyed_hashes_name_their_key")]

    operations = [
        migrations.CreateModel(
            name="AuditCheck",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("checked_at", models.DateTimeField()),
                ("ok", models.BooleanField()),
                ("entries_checked", models.PositiveBigIntegerField(default=0)),
                ("first_broken_id", models.BigIntegerField(blank=True, null=True)),
                ("reason", models.CharField(blank=True, max_length=200)),
                ("head_id", models.BigIntegerField(blank=True, null=True)),
                ("head_hash", models.CharField(blank=True, max_length=64)),
                ("duration_ms", models.PositiveIntegerField(default=0)),
            ],
            options={
                "indexes": [models.Index(fields=["-checked_at"], name="audit_check_latest")],
            },
        ),
    ]
