"""No personal data in logs or URLs, and no caching of answers that carry it."""

from __future__ import annotations

import logging

from django.core import mail

from requests_app.models import SubjectRequest
from retention.models import AuditEntry

from .conftest import last_code

BODY = {
    "organisation": "testorg",
    "type": "rectification",
    "email": "Greta.Garbo@Example.org",
    "full_name": "Greta Lovisa Garbo",
    "language": "sv",
    "personnummer": "811218-9876",
    "phone": "070-765 43 21",
    "customer_number": "KND-55555",
    "corrections": [{"wrong": "Gatan 1", "correct": "Vägen 2"}],
}
SECRETS = [
    "greta.garbo@example.org",
    "Greta.Garbo@Example.org",
    "Greta Lovisa Garbo",
    "811218-9876",
    "198112189876",
    "8112189876",
    "765 43 21",
    "KND-55555",
]


def test_a_submission_and_verification_log_no_personal_data(client, org, deliver, caplog):
    caplog.set_level(logging.DEBUG)
    with deliver():
        response = client.post("/api/v1/requests", BODY, content_type="application/json")
    reference = response.json()["reference"]
    code = last_code()
    with deliver():
        client.post(
            f"/api/v1/requests/{reference}/verify", {"code": code}, content_type="application/json"
        )
    assert SubjectRequest.objects.get().status == "new"
    assert len(mail.outbox) == 2
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in [*SECRETS, code]:
        assert secret not in logged, secret
    audit = str(list(AuditEntry.objects.values_list("data", flat=True)))
    for secret in [*SECRETS, code]:
        assert secret not in audit, secret


def test_no_personal_data_or_code_goes_into_a_url(client, org, deliver):
    with deliver():
        response = client.post(
            "/testorg/request/erasure/",
            {
                "full_name": "Greta Lovisa Garbo",
                "email": "greta.garbo@example.org",
                "language": "sv",
                "scope": "all",
            },
        )
    location = response["Location"]
    code = last_code()
    with deliver():
        verified = client.post(location, {"code": code})
    for url in (location, verified["Location"]):
        assert "greta" not in url.lower() and code not in url
