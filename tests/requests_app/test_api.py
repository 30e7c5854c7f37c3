"""The request API: every type in both languages, verification, the token, one error shape."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail

from requests_app.models import (
    OutboxMessage,
    RequestStatus,
    SubjectRequest,
)
from retention.models import AuditEntry

from .conftest import last_code

BODIES = {
    "access": {"categories": ["contact"], "format": "json"},
    "rectification": {
        "corrections": [
            {"wrong": "Efternamn: Svensson", "correct": "Efternamn: Svensén"},
            {"wrong": "Stad: Malmo", "correct": "Stad: Malmö"},
        ],
        "statement": "Jag har flyttat.",
    },
    "erasure": {"scope": "categories", "categories": ["orders"], "ground": "a"},
    "restriction": {"ground": "a", "scope": "all"},
    "objection": {"direct_marketing": True, "purposes": ["analytics"], "grounds": "Min situation."},
    "portability": {"format": "csv"},
    "consent_withdrawal": {"purposes": ["newsletter"]},
}


def body(kind: str, language: str = "sv", **overrides) -> dict:
    data = {
        "organisation": "testorg",
        "type": kind,
        "email": "Anna.Andersson@Example.org ",
        "full_name": "Anna Andersson",
        "language": language,
        "personnummer": "811218-9876",
        **BODIES[kind],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client, url, data, **headers):
    return client.post(url, data, content_type="application/json", **headers)


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("kind", list(BODIES))
def test_it_files_every_type_of_request(client, org, deliver, kind, language):
    with (
        time_machine.travel(dt.datetime(2025, 1, 31, 15, 0, tzinfo=dt.UTC), tick=False),
        deliver(),
    ):
        response = post(client, "/api/v1/requests", body(kind, language))
    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) == {"reference", "type", "status", "received_at", "due_date"}
    assert data["type"] == kind and data["status"] == "unverified"
    assert data["due_date"] == "2025-02-28"
    assert response["Cache-Control"] == "no-store"

    stored = SubjectRequest.objects.get(reference=data["reference"])
    assert stored.email == "anna.andersson@example.org"
    assert stored.personnummer == "198112189876"
    assert stored.language == language
    assert {k: stored.details[k] for k in BODIES[kind]} == BODIES[kind]
    assert AuditEntry.objects.filter(
        action="requests.request.submitted", object_id=str(stored.pk)
    ).exists()

    # The code went out in the request's language.
    assert len(mail.outbox) == 1
    subject = mail.outbox[0].subject
    assert "din kod" in subject if language == "sv" else "your code" in subject, subject


@pytest.mark.parametrize("language", ["sv", "en"])
def test_it_verifies_with_the_code_and_shows_the_status_with_the_token(
    client, org, deliver, language
):
    with deliver():
        reference = post(client, "/api/v1/requests", body("erasure", language)).json()["reference"]
    code = last_code()

    with deliver():
        response = post(client, f"/api/v1/requests/{reference}/verify", {"code": code})
    assert response.status_code == 200, response.json()
    token = response.json()["token"]
    assert response.json()["token_type"] == "Bearer"
    assert SubjectRequest.objects.get(reference=reference).status == RequestStatus.NEW
    # The confirmation e-mail carries a single-use link, not the reference alone.
    assert "/open/?t=" in mail.outbox[-1].body

    status = client.get(f"/api/v1/requests/{reference}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert status.status_code == 200
    data = status.json()
    assert data["status"] == "new"
    assert data["reference"] == reference
    assert [event["event"] for event in data["history"]] == ["submitted", "verified"]
    expected = "E-postadressen bekräftad" if language == "sv" else "E-mail address confirmed"
    assert data["history"][1]["description"] == expected
    assert status["Cache-Control"] == "no-store"


def test_it_refuses_the_status_without_the_right_token(client, org, deliver):
    with deliver():
        reference = post(client, "/api/v1/requests", body("access")).json()["reference"]
    response = client.get(f"/api/v1/requests/{reference}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get(f"/api/v1/requests/{reference}", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401


def test_a_token_opens_only_its_own_request(client, org, deliver):
    with deliver():
        first = post(client, "/api/v1/requests", body("access")).json()["reference"]
    code = last_code()
    with deliver():
        second = post(client, "/api/v1/requests", body("portability")).json()["reference"]
    token = post(client, f"/api/v1/requests/{first}/verify", {"code": code}).json()["token"]
    response = client.get(f"/api/v1/requests/{second}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_the_token_expires(client, org, deliver):
    with deliver():
        reference = post(client, "/api/v1/requests", body("access")).json()["reference"]
    token = post(client, f"/api/v1/requests/{reference}/verify", {"code": last_code()}).json()[
        "token"
    ]
    with time_machine.travel(dt.timedelta(minutes=61)):
        response = client.get(f"/api/v1/requests/{reference}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_a_wrong_code_answers_400_in_the_error_shape(client, org, deliver):
    with deliver():
        reference = post(client, "/api/v1/requests", body("access")).json()["reference"]
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    response = post(client, f"/api/v1/requests/{reference}/verify", {"code": wrong})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "wrong_code"
    assert "4" in error["message"]
    assert "code" in error["fields"]


def test_a_malformed_code_is_a_field_error(client, org, deliver):
    with deliver():
        reference = post(client, "/api/v1/requests", body("access")).json()["reference"]
    response = post(client, f"/api/v1/requests/{reference}/verify", {"code": "12ab"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["code"] == ["Koden har 6 siffror."]


def test_an_unknown_organisation_is_404(client, org):
    response = post(client, "/api/v1/requests", body("access", organisation="nosuchorg"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not SubjectRequest.objects.exists()


def test_an_unknown_reference_is_404(client, org):
    response = post(client, "/api/v1/requests/DSR-0000-0000-0000/verify", {"code": "123456"})
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize(
    ("overrides", "field", "message_en"),
    [
        (
            {"email": "not-an-address"},
            "email",
            "Enter a valid e-mail address, like name@example.com.",
        ),
        ({"email": None}, "email", "This field is required."),
        (
            {"full_name": "x" * 201},
            "full_name",
            "Ensure this field has no more than 200 characters.",
        ),
        ({"language": "de"}, "language", '"de" is not a valid choice.'),
        (
            {"personnummer": "811218-9875"},
            "personnummer",
            "The check digit does not match: please check the number.",
        ),
        ({"phone": "abc"}, "phone", "Enter a valid phone number."),
        (
            {"customer_number": "ÅÄÖ!"},
            "customer_number",
            "A customer number has letters, digits and - _ / . only (at most 64).",
        ),
        (
            {"scope": "categories", "categories": []},
            "categories",
            "Choose at least one category, or choose all data.",
        ),
        ({"categories": ["secrets"]}, "categories", "Choose categories from the list."),
        ({"ground": "g"}, "ground", "Choose a ground from the list."),
        ({"format": "pdf"}, "format", None),
        ({"details": "x" * 2001}, "details", "Ensure this field has no more than 2000 characters."),
    ],
)
def test_it_refuses_invalid_fields_and_stores_nothing(client, org, overrides, field, message_en):
    kind = "access" if field == "format" else "erasure"
    data = {**body(kind, "en"), **overrides}
    data = {k: v for k, v in data.items() if v is not None}
    response = post(client, "/api/v1/requests", data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    if message_en:
        assert error["fields"][field] == [message_en]
    assert not SubjectRequest.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_errors_are_in_swedish_for_a_swedish_request(client, org):
    response = post(client, "/api/v1/requests", body("erasure", "sv", email="nej"))
    assert response.json()["error"]["fields"]["email"] == [
        "Ange en giltig e-postadress, till exempel namn@example.com."
    ]
    assert response.json()["error"]["message"] == "Begäran innehåller fel; se fälten."


def test_it_refuses_fields_of_another_type(client, org):
    response = post(client, "/api/v1/requests", body("portability", "en", ground="a"))
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["ground"] == [
        "This field does not apply to this type of request."
    ]


def test_a_rectification_needs_at_least_one_row_and_both_halves(client, org):
    empty = post(client, "/api/v1/requests", body("rectification", "en", corrections=[]))
    assert empty.json()["error"]["fields"]["corrections"] == [
        "Describe at least one thing to correct."
    ]
    half = post(
        client,
        "/api/v1/requests",
        body("rectification", "en", corrections=[{"wrong": "Namn", "correct": ""}]),
    )
    assert half.json()["error"]["fields"]["corrections[0].correct"] == [
        "Say what it should say instead."
    ]
    many = post(
        client,
        "/api/v1/requests",
        body("rectification", "en", corrections=[{"wrong": "a", "correct": "b"}] * 11),
    )
    assert many.status_code == 400
    assert "corrections" in many.json()["error"]["fields"]
    assert not SubjectRequest.objects.exists()


def test_an_objection_needs_direct_marketing_or_a_purpose_and_grounds(client, org):
    neither = post(
        client,
        "/api/v1/requests",
        body("objection", "en", direct_marketing=False, purposes=[], grounds=""),
    )
    assert neither.json()["error"]["fields"]["purposes"] == [
        "Choose direct marketing, or at least one purpose you object to."
    ]
    no_grounds = post(
        client, "/api/v1/requests", body("objection", "en", direct_marketing=False, grounds="")
    )
    assert no_grounds.json()["error"]["fields"]["grounds"] == [
        "Tell us the grounds for your objection to these purposes."
    ]
    # Only legitimate-interest purposes can be chosen: not the consent-based newsletter.
    consent = post(client, "/api/v1/requests", body("objection", "en", purposes=["newsletter"]))
    assert "purposes" in consent.json()["error"]["fields"]


def test_a_consent_withdrawal_lists_only_consent_purposes(client, org):
    response = post(
        client, "/api/v1/requests", body("consent_withdrawal", "en", purposes=["marketing"])
    )
    assert response.json()["error"]["fields"]["purposes"] == ["Choose purposes from the list."]
    missing = post(client, "/api/v1/requests", body("consent_withdrawal", "en", purposes=[]))
    assert missing.json()["error"]["fields"]["purposes"] == [
        "Choose at least one consent to withdraw."
    ]


def test_a_restriction_needs_a_ground(client, org):
    response = post(client, "/api/v1/requests", body("restriction", "en", ground=None))
    assert response.json()["error"]["fields"]["ground"] == ["Choose the ground for restriction."]


def test_the_api_is_documented(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in (
        "/api/v1/requests",
        "/api/v1/requests/{reference}",
        "/api/v1/requests/{reference}/verify",
        "/api/v1/requests/{reference}/resend",
    ):
        assert path in text
    assert "ErrorBody" in text
    assert client.get("/api/docs/").status_code == 200
