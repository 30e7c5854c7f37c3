"""Once verified, a request is matched to the organisation's data subjects, and says how.

One match per subject, with every identifier that matched it. Only the verified e-mail
address proves the subject (`proven_by`); a typed personnummer or customer number does not.
"""

from __future__ import annotations

from requests_app.models import MatchMethod, ProofMethod
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
    assert [(m.subject, m.method, m.proven_by, m.included) for m in request.matches.all()] == [
        (anna, "email", ProofMethod.EMAIL, True)
    ]
    assert request.match_summary == "email: 1 subject(s)"


def test_it_matches_by_personnummer_and_customer_number_when_given(org, deliver):
    anna = subject(org, "c-1", personnummer="198112189876", customer_number="K-100")
    request = verified(
        org, deliver, personnummer="198112189876", customer_number="K-100", email="new@example.org"
    )
    [match] = request.matches.all()
    assert (match.subject, match.method, match.methods) == (
        anna,
        "personnummer",
        ["personnummer", "customer_number"],
    )
    assert (match.proven_by, match.included) == (ProofMethod.NONE, True)
    assert request.match_method == MatchMethod.PERSONNUMMER
    assert "identity not proven for 1 subject(s)" in request.match_summary


def test_a_subject_the_verified_email_also_matched_is_proven(org, deliver):
    anna = subject(org, "c-1", email="anna@example.org", personnummer="198112189876")
    request = verified(org, deliver, email="anna@example.org", personnummer="198112189876")
    [match] = request.matches.all()
    assert (match.subject, match.methods, match.proven_by) == (
        anna,
        ["email", "personnummer"],
        ProofMethod.EMAIL,
    )
    assert "not proven" not in request.match_summary


def test_it_flags_identifiers_that_point_at_different_subjects(org, deliver):
    subject(org, "c-1", email="anna@example.org")
    subject(org, "c-2", personnummer="198112189876")
    request = verified(org, deliver, email="anna@example.org", personnummer="198112189876")
    assert {(m.method, m.proven_by) for m in request.matches.all()} == {
        ("email", ProofMethod.EMAIL),
        ("personnummer", ProofMethod.NONE),
    }
    assert "different subjects" in request.match_summary


def test_it_never_matches_another_organisations_subjects(org, other_org, deliver):
    subject(other_org, "c-1", email="anna@example.org")
    request = verified(org, deliver, email="anna@example.org")
    assert request.match_method == MatchMethod.NONE
    assert request.matches.count() == 0
    assert request.match_summary == "no subject found"
