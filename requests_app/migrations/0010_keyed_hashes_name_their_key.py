"""Verification codes and status tokens name their key: ``kid$hex`` (retention.keyring).

Rows stored before were made with SECRET_KEY itself; they are marked with the
id of that derivation (``derived``), valid while the `token` keyring lists it
(by default with DEBUG=true). They live hours at most.
"""

from django.db import migrations, models

FORWARD = """
UPDATE requests_app_verificationcode SET code_hmac = 'derived$' || code_hmac
 WHERE position('$' in code_hmac) = 0;
UPDATE requests_app_statustoken SET token_hmac = 'derived$' || token_hmac
 WHERE position('$' in token_hmac) = 0;
"""

BACKWARD = """
UPDATE requests_app_verificationcode SET code_hmac = substr(code_hmac, 9)
 WHERE code_hmac LIKE 'derived$%';
UPDATE requests_app_statustoken SET token_hmac = substr(token_hmac, 9)
 WHERE token_hmac LIKE 'derived$%';
"""


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0009_match_proof")]

    operations = [
        migrations.AlterField(
            model_name="verificationcode",
            name="code_hmac",
            field=models.CharField(max_length=81),
        ),
        migrations.AlterField(
            model_name="statustoken",
            name="token_hmac",
            field=models.CharField(max_length=81, unique=True),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
