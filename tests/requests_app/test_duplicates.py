"""A second open request of the same type from the same verified address is linked to the first."""

from __future__ import annotations

from requests_app.models import RequestStatus
from requests_app.services.verification import verification_check

from .conftest import last_code
from .helpers import submit


def filed_and_verified(org, deliver, **kwargs):
    with deliver():
        request = submit(org, **kwargs)
    with deliver():
        return verification_check(request=request, code=last_code(kwargs.get("email")))


def test_it_links_a_second_open_request_of_the_same_kind(org, deliver):
    first = filed_and_verified(org, deliver, kind="erasure", email="anna@example.org")
    second = filed_and_verified(org, deliver, kind="erasure", email="anna@example.org")
    assert first.status == RequestStatus.NEW
    assert second.status == RequestStatus.LINKED
    assert second.linked_to == first
    assert list(first.linked_requests.all()) == [second]
    assert [e.kind for e in second.events.all()] == ["submitted", "verified", "linked"]


def test_it_does_not_link_another_kind_or_another_address(org, deliver):
    filed_and_verified(org, deliver, kind="erasure", email="anna@example.org")
    other_kind = filed_and_verified(org, deliver, kind="access", email="anna@example.org")
    other_address = filed_and_verified(org, deliver, kind="erasure", email="bo@example.org")
    assert other_kind.status == RequestStatus.NEW and other_kind.linked_to is None
    assert other_address.status == RequestStatus.NEW and other_address.linked_to is None


def test_it_does_not_link_across_organisations(org, other_org, deliver):
    filed_and_verified(org, deliver, kind="erasure")
    elsewhere = filed_and_verified(other_org, deliver, kind="erasure")
    assert elsewhere.status == RequestStatus.NEW


def test_it_does_not_link_to_a_closed_or_unverified_request(org, deliver):
    closed = filed_and_verified(org, deliver, kind="erasure")
    closed.status = RequestStatus.COMPLETED
    closed.save()
    with deliver():
        submit(org, kind="erasure")  # never verified
    fresh = filed_and_verified(org, deliver, kind="erasure")
    assert fresh.status == RequestStatus.NEW and fresh.linked_to is None
