"""The public pages: landing page, one form per type, verification and the status page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client

from requests_app.models import RequestStatus, StatusToken, SubjectRequest

from .conftest import last_code

COMMON = {
    "full_name": "Anna Andersson",
    "email": "anna@example.org",
    "personnummer": "198112189876",
    "customer_number": "",
    "phone": "070-123 45 67",
}
TYPE_FIELDS = {
    "access": {"categories": ["contact", "orders"], "format": "html"},
    "rectification": {
        "corrections-TOTAL_FORMS": "3",
        "corrections-INITIAL_FORMS": "0",
        "corrections-0-wrong": "Efternamn Svensson",
        "corrections-0-correct": "Efternamn Svensén",
        "corrections-1-wrong": "",
        "corrections-1-correct": "",
        "corrections-2-wrong": "",
        "corrections-2-correct": "",
    },
    "erasure": {"scope": "all", "ground": "a"},
    "restriction": {"ground": "c", "scope": "categories", "categories": ["orders"]},
    "objection": {"direct_marketing": "on"},
    "portability": {"format": "csv"},
    "consent_withdrawal": {"purposes": ["newsletter"]},
}
HEADINGS = {
    "sv": {"erasure": "Radering av mina uppgifter (art. 17)"},
    "en": {"erasure": "Erasure of my data (Art. 17)"},
}


def switch(client, language):
    client.post("/i18n/setlang/", {"language": language, "next": "/testorg/"})


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("kind", list(TYPE_FIELDS))
def test_every_type_can_be_filed_through_its_form(client, org, deliver, kind, language):
    switch(client, language)
    page = client.get(f"/testorg/request/{kind}/")
    assert page.status_code == 200
    assert f'<html lang="{language}">' in page.content.decode()

    with deliver():
        response = client.post(
            f"/testorg/request/{kind}/", {**COMMON, "language": language, **TYPE_FIELDS[kind]}
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    request = SubjectRequest.objects.get()
    assert response["Location"] == f"/testorg/requests/{request.reference}/verify/"
    assert request.kind == kind and request.language == language
    assert request.phone == "+46701234567"
    assert mail.outbox[0].to == ["anna@example.org"]
    if kind == "rectification":
        assert request.details["corrections"] == [
            {"wrong": "Efternamn Svensson", "correct": "Efternamn Svensén"}
        ]
    if kind == "objection":
        assert request.details["direct_marketing"] is True


def test_the_form_shows_errors_tied_to_their_fields_and_stores_nothing(client, org):
    response = client.post(
        "/testorg/request/erasure/",
        {**COMMON, "email": "nope", "personnummer": "19810230-1234", "language": "sv"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Ange en giltig e-postadress, till exempel namn@example.com." in html
    assert "Datumdelen av numret finns inte." in html
    assert 'id="id_email_errors"' in html
    email_input = re.search(r'<input[^>]+name="email"[^>]*>', html)[0]
    assert 'aria-describedby="id_email_errors id_email_helptext"' in email_input
    assert 'aria-invalid="true"' in email_input
    assert 'role="alert"' in html  # the error summary
    assert not SubjectRequest.objects.exists()


def test_every_field_has_a_label(client, org):
    html = client.get("/testorg/request/rectification/").content.decode()
    fields = re.findall(
        r'<(?:input|textarea|select)(?![^>]*type="hidden")[^>]*\sid="([^"]+)"', html
    )
    assert len(fields) > 10
    for field_id in fields:
        assert f'for="{field_id}"' in html, field_id


def test_a_rectification_form_offers_more_rows_without_javascript(client, org):
    data = {**COMMON, "language": "sv", **TYPE_FIELDS["rectification"], "add_rows": "1"}
    response = client.post("/testorg/request/rectification/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="corrections-5-wrong"' in html  # 6 rows now
    assert "Efternamn Svensén" in html  # what was typed is kept
    assert not SubjectRequest.objects.exists()


def test_the_forms_need_a_csrf_token(org):
    client = Client(enforce_csrf_checks=True)
    data = {**COMMON, "language": "sv", **TYPE_FIELDS["erasure"]}
    assert client.post("/testorg/request/erasure/", data).status_code == 403
    assert not SubjectRequest.objects.exists()

    page = client.get("/testorg/request/erasure/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = client.post("/testorg/request/erasure/", {**data, "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_an_unknown_organisation_or_type_is_404(client, org):
    assert client.get("/nosuchorg/").status_code == 404
    assert client.get("/nosuchorg/request/erasure/").status_code == 404
    assert client.get("/testorg/request/nonsense/").status_code == 404


def test_a_request_is_not_reachable_under_another_organisation(client, org, other_org, deliver):
    with deliver():
        client.post("/testorg/request/erasure/", {**COMMON, "language": "sv", "scope": "all"})
    reference = SubjectRequest.objects.get().reference
    assert client.get(f"/otherorg/requests/{reference}/verify/").status_code == 404
    assert client.get(f"/otherorg/requests/{reference}/").status_code == 404


def file_and_verify(client, deliver, language="sv"):
    """File an erasure request and verify it."""
    with deliver():
        client.post("/testorg/request/erasure/", {**COMMON, "language": language, "scope": "all"})
    request = SubjectRequest.objects.get()
    with deliver():
        response = client.post(
            f"/testorg/requests/{request.reference}/verify/", {"code": last_code()}
        )
    return request, response


# Filed on 20 May 2025: due 20 June is midsommarafton, so Monday 23 June.
ON_20_MAY_2025 = time_machine.travel(dt.datetime(2025, 5, 20, 8, 0, tzinfo=dt.UTC))


@ON_20_MAY_2025
def test_it_verifies_the_code_and_shows_the_status_with_the_due_date(client, org, deliver):
    request, response = file_and_verify(client, deliver)
    assert response.status_code == 302
    assert response["Location"] == f"/testorg/requests/{request.reference}/"
    request.refresh_from_db()
    assert request.status == RequestStatus.NEW

    status = client.get(response["Location"])
    html = status.content.decode()
    assert status.status_code == 200
    assert request.reference in html
    # 20 May 2025 + 1 month = 20 June 2025 (midsommarafton) → Monday 23 June.
    assert "måndag 23 juni 2025" in html
    assert "E-postadressen bekräftad" in html
    assert "no-store" in status["Cache-Control"]


@ON_20_MAY_2025
def test_the_status_page_needs_proof_of_the_address(client, org, deliver):
    request, _response = file_and_verify(client, deliver)
    stranger = Client()
    page = stranger.get(f"/testorg/requests/{request.reference}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "anna@example.org" not in html and "Anna Andersson" not in html
    assert "Skicka en kod till mig" in html

    # A wrong address gets the same answer but no code.
    sent = len(mail.outbox)
    with deliver():
        response = stranger.post(
            f"/testorg/requests/{request.reference}/", {"email": "eve@example.org"}
        )
    assert response.status_code == 302 and len(mail.outbox) == sent

    with deliver():
        stranger.post(f"/testorg/requests/{request.reference}/", {"email": "anna@example.org"})
    assert len(mail.outbox) == sent + 1
    stranger.post(f"/testorg/requests/{request.reference}/verify/", {"code": last_code()})
    assert (
        "måndag 23 juni 2025"
        in stranger.get(f"/testorg/requests/{request.reference}/").content.decode()
    )


def test_the_link_in_the_confirmation_works_once(client, org, deliver):
    request, _response = file_and_verify(client, deliver)
    confirmation = mail.outbox[-1]
    assert confirmation.subject == f"Vi har tagit emot din begäran {request.reference}"
    path = re.search(r"http://[^/]+(/testorg/requests/[^/]+/open/\?t=[\w-]+)", confirmation.body)[1]
    token = path.split("?t=")[1]

    other = Client()
    page = other.get(path)
    assert page.status_code == 200  # GET shows a button; it does not use the token up
    assert StatusToken.objects.get(kind="link").used_at is None
    response = other.post(path.split("?")[0], {"t": token})
    assert response["Location"] == f"/testorg/requests/{request.reference}/"
    assert request.reference in other.get(response["Location"]).content.decode()

    third = Client()
    third.post(path.split("?")[0], {"t": token})
    assert (
        "Skicka en kod till mig"
        in third.get(f"/testorg/requests/{request.reference}/").content.decode()
    )


def test_a_wrong_code_on_the_page_says_how_many_tries_are_left(client, org, deliver):
    with deliver():
        client.post("/testorg/request/erasure/", {**COMMON, "language": "en", "scope": "all"})
    request = SubjectRequest.objects.get()
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    switch(client, "en")
    response = client.post(f"/testorg/requests/{request.reference}/verify/", {"code": wrong})
    assert response.status_code == 400
    assert "The code is not right. Tries left: 4." in response.content.decode()


def test_the_resend_button_sends_a_new_code(client, org, deliver):
    with deliver():
        client.post("/testorg/request/erasure/", {**COMMON, "language": "sv", "scope": "all"})
    request = SubjectRequest.objects.get()
    with deliver():
        response = client.post(f"/testorg/requests/{request.reference}/resend/")
    assert response.status_code == 302
    assert len(mail.outbox) == 2
    assert client.get(f"/testorg/requests/{request.reference}/resend/").status_code == 405


def test_the_landing_page_explains_the_policy_and_offers_every_right(client, org):
    response = client.get("/testorg/")
    html = response.content.decode()
    assert "Dina personuppgifter hos Testbolaget" in html
    assert "Marknadsföring" in html and "Berättigat intresse (art. 6.1 f)" in html
    assert "Raderas 2 år efter att avtalet eller abonnemanget upphörde." in html
    assert "Utskicksföretag" in html
    assert "dpo@testbolaget.example.org" in html
    assert "https://www.imy.se" in html
    for kind in TYPE_FIELDS:
        assert f'href="/testorg/request/{kind}/"' in html
    assert "Du kan begära att vi raderar dina uppgifter." in html  # the policy's own words


def test_the_landing_page_speaks_english_after_the_switch(client, org):
    switch(client, "en")
    html = client.get("/testorg/").content.decode()
    assert "Your personal data at Testbolaget" in html
    assert "Deleted 2 years after end of the contract or subscription." in html


def test_every_seed_organisation_has_a_landing_page_and_forms(client, organisations):
    assert len(organisations) == 5
    for slug in organisations:
        assert client.get(f"/{slug}/").status_code == 200, slug
        for kind in TYPE_FIELDS:
            # Prokompetens processes nothing on consent: there is no consent to withdraw.
            expected = 404 if (slug, kind) == ("prokompetens", "consent_withdrawal") else 200
            assert client.get(f"/{slug}/request/{kind}/").status_code == expected, (slug, kind)


def test_a_consent_withdrawal_without_consent_purposes_is_not_offered(client, org, deliver):
    """Nothing processed on consent, nothing to withdraw: no form, the reason and the way on;
    a submission is not stored (before: a free-text withdrawal naming nothing was filed)."""
    org.purposes.filter(key="newsletter").delete()
    switch(client, "en")
    assert "/testorg/request/consent_withdrawal/" not in client.get("/testorg/").content.decode()
    for response in (
        client.get("/testorg/request/consent_withdrawal/"),
        client.post(
            "/testorg/request/consent_withdrawal/",
            {**COMMON, "language": "en", "details": "The SMS offers."},
        ),
    ):
        assert response.status_code == 404
        html = response.content.decode()
        assert "Testbolaget processes no personal data on the basis of consent" in html
        assert 'name="full_name"' not in html
        assert "/testorg/request/objection/" in html
    assert not SubjectRequest.objects.exists()


def test_pages_with_personal_data_are_not_cached(client, org, deliver):
    assert "no-store" in client.get("/testorg/request/erasure/")["Cache-Control"]
    request, _ = file_and_verify(client, deliver)
    assert (
        "no-store" in client.get(f"/testorg/requests/{request.reference}/verify/")["Cache-Control"]
    )


def test_swedish_is_the_default_until_the_person_chooses(client, org):
    html = client.get("/testorg/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="sv">' in html and "Dina personuppgifter hos Testbolaget" in html
    switch(client, "en")
    html = client.get("/testorg/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert '<html lang="en">' in html
