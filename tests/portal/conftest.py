"""Fixtures shared with the request-workflow tests: the two test organisations and their staff.

(`fast_password_hashing` and `clean_redis` are imported by the modules that want them.)
"""

from tests.requests_app.conftest import (  # noqa: F401
    org,
    other_org,
    outsider,
    staff,
    staff_client,
)

# The keyrings a production environment needs (DEBUG=false): fixed test keys, 32 bytes each.
PRODUCTION_HMAC_KEYS = {
    "HMAC_KEYS_TOMBSTONE": "t1:dG9tYnN0b25lLXRlc3Qta2V5LTAxMjM0NTY3ODlhYmM",
    "HMAC_KEYS_SUPPRESSION": "s1:c3VwcHJlc3Npb24tdGVzdC1rZXktMDEyMzQ1Njc4OWE",
    "HMAC_KEYS_TOKEN": "k1:dG9rZW4tdGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZmc",
}
