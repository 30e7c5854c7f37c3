"""A legal hold on one person, found by what staff know of them: their e-mail address,
personnummer or customer number, written as staff have it, in this organisation only.

The portal never guesses: a value that finds nobody, or more than one person, places
no hold and says why. The value is never in a URL, a log or the audit trail.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from requests_app.services.staff_preferences import staff_language_set
from retention.models import AuditEntry, DataSubject, LegalHold, SubjectIdentifier
from retention.services.subjects import SubjectLookupError, subject_find, subject_label

EMAIL = "karin.lind@example.org"
PERSONNUMMER = "198504121230"  # stored as the import normalises it: YYYYMMDDNNNC
CUSTOMER_NUMBER = "K-1001"


def person(organisation, external_id: str = "crm-7", **identifiers) -> DataSubject:
    subject = DataSubject.objects.create(organisation=organisation, external_id=external_id)
    for kind, value in identifiers.items():
        SubjectIdentifier.objects.create(
            organisation=organisation, subject=subject, kind=kind, value=value
        )
    return subject


@pytest.fixture(autouse=True)
def in_english(staff):
    """The approver reads the staff pages in English (their own setting)."""
    staff_language_set(user=staff["approver"], language="en")


@pytest.fixture
def karin(org):
    return person(org, email=EMAIL, personnummer=PERSONNUMMER, customer_number=CUSTOMER_NUMBER)


def place(client, org, **data):
    """Post the hold form; return the page it leads back to."""
    data = {"reason": "Dispute 2026:14 at the district court", **data}
    return client.post(reverse("staff:hold_place", kwargs={"org_slug": org.slug}), data)


def messages_of(client, org) -> list[str]:
    page = client.get(reverse("staff:retention", kwargs={"org_slug": org.slug}))
    return [str(m) for m in page.context["messages"]]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", "Karin.Lind@Example.ORG"),
        ("email", "  karin.lind@example.org "),
        ("personnummer", "19850412-1230"),
        ("personnummer", "198504121230"),
        ("personnummer", "850412-1230"),
        ("personnummer", "8504121230"),
        ("customer_number", "k-1001"),
        ("customer_number", "K-1001"),
    ],
)
def test_staff_find_the_person_by_what_they_know_written_as_they_have_it(
    org, staff, staff_client, karin, kind, value
):
    client = staff_client(staff["approver"])
    response = place(client, org, subject_kind=kind, subject_value=value)
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:retention", kwargs={"org_slug": org.slug})
    hold = LegalHold.objects.get()
    assert (hold.subject, hold.category, hold.set_by) == (karin, None, staff["approver"])
    assert messages_of(client, org) == [
        "The legal hold is in place for one person: the list of holds shows who."
    ]


def test_the_list_of_holds_says_who_a_hold_covers_without_the_internal_id(
    org, staff, staff_client, karin
):
    client = staff_client(staff["approver"])
    place(client, org, subject_kind="email", subject_value=EMAIL, category="contact")
    only_email = person(org, "crm-8", email="per.ek@example.org")
    only_pnr = person(org, "crm-9", personnummer="198504121230")
    for subject in (only_email, only_pnr):
        LegalHold.objects.create(organisation=org, subject=subject, reason="Audit")
    page = client.get(reverse("staff:retention", kwargs={"org_slug": org.slug}))
    covers = {hold.subject_id: hold.covers for hold in page.context["holds"]}
    assert covers == {
        karin.pk: "the person with customer number K-1001",
        only_email.pk: "the person with e-mail address p…@example.org",
        only_pnr.pk: "the person whose personnummer ends in 1230",
    }
    html = page.content.decode()
    assert "The person with customer number K-1001, in the category" in html
    assert "per.ek@example.org" not in html and PERSONNUMMER not in html
    assert f"subject {karin.pk}" not in html


def test_a_value_that_finds_nobody_places_no_hold(org, staff, staff_client, karin):
    client = staff_client(staff["approver"])
    place(client, org, subject_kind="email", subject_value="someone.else@example.org")
    place(client, org, subject_kind="customer_number", subject_value="K-9999")
    assert not LegalHold.objects.exists()
    assert messages_of(client, org) == [
        "The hold was not placed: Nobody in this organisation's records has that e-mail address.",
        "The hold was not placed: Nobody in this organisation's records has that customer number.",
    ]


def test_a_value_that_finds_two_people_places_no_hold_and_says_so(org, staff, staff_client, karin):
    person(org, "crm-duplicate", customer_number=CUSTOMER_NUMBER)  # the CRM has it twice
    client = staff_client(staff["approver"])
    place(client, org, subject_kind="customer_number", subject_value=CUSTOMER_NUMBER)
    assert not LegalHold.objects.exists()
    (message,) = messages_of(client, org)
    assert "More than one person in this organisation's records has this customer number" in (
        message
    )
    # Another identifier of the person tells them apart.
    place(client, org, subject_kind="email", subject_value=EMAIL)
    assert LegalHold.objects.get().subject == karin


def test_a_value_that_is_no_identifier_places_no_hold(org, staff, staff_client, karin):
    client = staff_client(staff["approver"])
    place(client, org, subject_kind="personnummer", subject_value="19850412-1231")
    place(client, org, subject_kind="email", subject_value="not an address")
    place(client, org, subject_kind="phone", subject_value="070-1234567")
    assert not LegalHold.objects.exists()
    assert messages_of(client, org) == [
        "The hold was not placed: The check digit does not match: please check the number.",
        "The hold was not placed: Enter a valid email address.",
        "The hold was not placed: Select a valid choice. phone is not one of the available"
        " choices.",
    ]


def test_a_person_of_another_organisation_is_not_found(
    org, other_org, staff, staff_client, outsider
):
    stranger = person(
        other_org, email=EMAIL, personnummer=PERSONNUMMER, customer_number=CUSTOMER_NUMBER
    )
    client = staff_client(staff["approver"])
    for kind, value in [
        ("email", EMAIL),
        ("personnummer", PERSONNUMMER),
        ("customer_number", CUSTOMER_NUMBER),
    ]:
        place(client, org, subject_kind=kind, subject_value=value)
        with pytest.raises(SubjectLookupError) as error:
            subject_find(organisation=org, kind=kind, value=value)
        assert error.value.code == "not_found"
    assert not LegalHold.objects.exists()
    assert subject_find(organisation=other_org, kind="email", value=EMAIL) == stranger


def test_an_organisation_or_category_hold_needs_no_person(org, staff, staff_client, karin):
    client = staff_client(staff["approver"])
    place(client, org, subject_kind="email", subject_value="")
    place(client, org, subject_kind="email", subject_value="  ", category="contact")
    holds = LegalHold.objects.order_by("id")
    assert [(h.subject, h.category and h.category.key) for h in holds] == [
        (None, None),
        (None, "contact"),
    ]
    assert messages_of(client, org) == ["The legal hold is in place."] * 2
    html = client.get(reverse("staff:retention", kwargs={"org_slug": org.slug})).content
    assert "whole organisation" in html.decode() and "Everyone, in the category" in html.decode()


def test_the_value_is_in_no_url_and_not_in_the_audit_trail(org, staff, staff_client, karin):
    client = staff_client(staff["approver"])
    response = place(client, org, subject_kind="email", subject_value=EMAIL)
    assert EMAIL not in response["Location"]
    place(client, org, subject_kind="email", subject_value="nobody@example.org")
    trail = str(list(AuditEntry.objects.values_list("action", "object_id", "data")))
    assert "retention.hold.placed" in trail
    assert "example.org" not in trail and "karin" not in trail.lower()


def test_a_viewer_cannot_place_a_hold_on_a_person(org, staff, staff_client, karin):
    response = place(staff_client(staff["viewer"]), org, subject_kind="email", subject_value=EMAIL)
    assert response.status_code in (403, 404)
    assert not LegalHold.objects.exists()


def test_the_form_asks_for_the_person_and_gives_the_reason_room(org, staff, staff_client):
    page = staff_client(staff["approver"]).get(
        reverse("staff:retention", kwargs={"org_slug": org.slug})
    )
    html = page.content.decode()
    assert "Only this subject (id)" not in html
    assert 'name="subject_value"' in html and 'name="subject_kind"' in html
    assert '<textarea name="reason" cols="40" rows="8"' in html
    assert 'aria-describedby="id_subject_value_helptext"' in html


def test_a_subject_without_identifiers_is_named_by_the_organisations_own_id(org):
    subject = person(org, "crm-404")
    with translation.override("en"):
        label = subject_label(subject)
    assert label == (
        "a person with no e-mail address, personnummer or customer number (id crm-404)"
    )
