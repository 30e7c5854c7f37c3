"""Once verified, a request is matched to the organisation's data subjects, and says how."""

from __future__ import annotations

from requests_app.models import MatchMethod
from requests_app.services.verification import verification_check
from retention.models import DataSubject, SubjectIdentifier

from .conftest import last_code
from .helpers import submit


def subject(org, external_id, **identifiers):
    person = DataSubject.objects.create(organisation=org, external_id=external_id)
    for kind, value in identifiers.items():
        SubjectIdentifier.objects.create(organisation=org, subject=person, kind=kind, value=value)
    return person


def verified(org, deliver, **kwargs):
    with deliver():
        request = submit(org, **kwargs)
    return verification_check(request=request, code=last_code())


def test_it_matches_by_the_verified_email(org, deliver):
    anna = subject(org, "c-1", email="anna@example.org")
    subject(org, "c-2", email="bo@example.org")
    request = verified(org, deliver, email="anna@example.org")
    assert request.match_method == MatchMethod.EMAIL
    assert [(m.subject, m.method) for m in request.matches.all()] == [(anna, "email")]
    assert request.match_summary == "email: 1 subject(s)"


def test_it_matches_by_personnummer_and_customer_number_when_given(org, deliver):
    anna = subject(org, "c-1", personnummer="198112189876", customer_number="K-100")
    request = verified(
        org, deliver, personnummer="198112189876", customer_number="K-100", email="new@example.org"
    )
    assert {(m.subject, m.method) for m in request.matches.all()} == {
        (anna, "personnummer"),
        (anna, "customer_number"),
    }
    assert request.match_method == MatchMethod.PERSONNUMMER
    assert "identity not proven" in request.match_summary


def test_it_flags_identifiers_that_point_at_different_subjects(org, deliver):
    subject(org, "c-1", email="anna@example.org")
    subject(org, "c-2", personnummer="198112189876")
    request = verified(org, deliver, email="anna@example.org", personnummer="198112189876")
    assert request.matches.count() == 2
    assert "different subjects" in request.match_summary


def test_it_never_matches_another_organisations_subjects(org, other_org, deliver):
    subject(other_org, "c-1", email="anna@example.org")
    request = verified(org, deliver, email="anna@example.org")
    assert request.match_method == MatchMethod.NONE
    assert request.matches.count() == 0
    assert request.match_summary == "no subject found"
