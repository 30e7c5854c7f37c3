"""Consent withdrawal (Art. 7(3)) is offered where the seeds say there is consent, and only there.

Seeds 002, 003 and 004 mention processing based on consent ("I vissa fall behöver vi ditt
samtycke", "(4) i specifika fall, efter att du har lämnat ditt samtycke", "återkalla hela
eller del av ett lämnat samtycke"); seed 000 asks consent for surveys. Seed 001 (Prokompetens)
names no consent. A withdrawal names at least one consent, or all of them.
"""

from __future__ import annotations

import pytest

from requests_app.models import SubjectRequest
from retention.models import LegalBasis

COMMON = {
    "email": "anna@example.org",
    "full_name": "Anna Andersson",
    "language": "en",
}


def api(client, organisation: str, **fields):
    return client.post(
        "/api/v1/requests",
        {"organisation": organisation, "type": "consent_withdrawal", **COMMON, **fields},
        content_type="application/json",
    )


@pytest.mark.parametrize(
    ("slug", "purpose"),
    [
        ("prognoscentret", "surveys"),
        ("coachen", "consent_based"),
        ("framsteget", "consent_based"),
        ("expektra", "session_cookies"),
    ],
)
def test_each_seed_that_speaks_of_consent_has_a_consent_purpose_and_offers_the_form(
    client, organisations, slug, purpose
):
    org = organisations[slug]
    assert org.purposes.get(key=purpose).legal_basis == LegalBasis.CONSENT
    assert f"/{slug}/request/consent_withdrawal/" in client.get(f"/{slug}/").content.decode()
    form = client.get(f"/{slug}/request/consent_withdrawal/").content.decode()
    assert f'value="{purpose}"' in form and 'value="all"' in form


def test_prokompetens_names_no_consent_and_offers_no_withdrawal(client, organisations):
    assert not organisations["prokompetens"].purposes.filter(legal_basis="consent").exists()
    landing = client.get("/prokompetens/").content.decode()
    assert "/prokompetens/request/consent_withdrawal/" not in landing
    assert client.get("/prokompetens/request/consent_withdrawal/").status_code == 404


def test_the_api_answers_a_clear_400_where_there_is_no_consent(client, organisations):
    response = api(client, "prokompetens", purposes=["all"])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"]["non_field_errors"] == [
        "Prokompetens processes no personal data on the basis of consent, so there is no "
        "consent to withdraw. To stop other processing, object to it or ask for erasure."
    ]
    assert not SubjectRequest.objects.exists()


@pytest.mark.parametrize("purposes", [None, []])
def test_a_withdrawal_that_names_no_consent_is_refused(client, organisations, purposes):
    fields = {} if purposes is None else {"purposes": purposes}
    response = api(client, "framsteget", **fields)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["purposes"] == [
        "Choose at least one consent to withdraw."
    ]
    assert not SubjectRequest.objects.exists()


def test_a_withdrawal_of_a_purpose_not_based_on_consent_is_refused(client, organisations):
    response = api(client, "coachen", purposes=["marketing"])
    assert response.status_code == 400
    assert "purposes" in response.json()["error"]["fields"]


def test_all_means_every_consent_of_the_organisation(client, organisations, deliver):
    with deliver():
        response = api(client, "prognoscentret", purposes=["all"])
    assert response.status_code == 201, response.json()
    request = SubjectRequest.objects.get()
    assert request.details["purposes"] == ["surveys"]


def test_the_web_form_refuses_a_withdrawal_that_names_no_consent(client, organisations):
    client.post("/i18n/setlang/", {"language": "en", "next": "/expektra/"})
    response = client.post("/expektra/request/consent_withdrawal/", {**COMMON, "personnummer": ""})
    assert response.status_code == 400
    assert "Choose at least one consent to withdraw." in response.content.decode()
    assert not SubjectRequest.objects.exists()
