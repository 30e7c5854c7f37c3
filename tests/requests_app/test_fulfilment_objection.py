"""Objection (Art. 21) and consent withdrawal (Art. 7(3)).

A direct-marketing objection and a consent withdrawal are honoured as soon as the person has
proved their e-mail address, without staff: a marketing objection is absolute (Art. 21(3)) and
withdrawing consent must be as easy as giving it (Art. 7(3)). Objections to other
legitimate-interest purposes wait for staff, who record per purpose whether compelling
legitimate grounds override (Art. 21(1)); without such a record, processing stops.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.utils import timezone, translation
from rest_framework.test import APIClient

from requests_app.models import (
    Fulfilment,
    RecipientNotification,
    RequestApproval,
    RequestStatus,
    SubjectRequest,
)
from requests_app.services import fulfilment as ff
from requests_app.services import staff as svc
from requests_app.services.verification import verification_check
from retention.demo import demo_seed
from retention.models import DataSubject, Record, Suppression
from retention.services.api_tokens import api_token_create
from retention.services.rights import is_suppressed, processing_check
from tests.requests_app.conftest import last_code
from tests.requests_app.helpers import (
    SARA,
    customer,
    messages_of,
    staff_user,
    submit,
    verified_request,
)
from tests.retention.test_store_api import subject_body
from tests.waiting import wait_for

EMAIL = "anna@example.org"


def verify(org, deliver, *, kind: str, details: dict, email: str = EMAIL, **extra):
    """File a request and prove the address with the e-mailed code, as the person does."""
    with deliver():
        request = submit(org, kind=kind, email=email, language="en", details=details, **extra)
    with deliver():
        verification_check(request=request, code=last_code(email))
    request.refresh_from_db()
    return request


def check(org, subject, purpose_key: str):
    return processing_check(
        organisation=org, subject=subject, purpose=org.purposes.get(key=purpose_key)
    )


def replies(to: str = EMAIL) -> list:
    return [m for m in mail.outbox if m.to == [to] and "is done" in m.subject]


def test_a_marketing_objection_is_honoured_on_verification_without_staff(org, deliver):
    subject = customer(org, email=EMAIL)

    request = verify(org, deliver, kind="objection", details={"direct_marketing": True})

    assert request.status == RequestStatus.COMPLETED
    assert not RequestApproval.objects.filter(request=request).exists()
    assert is_suppressed(organisation=org, email=EMAIL)
    assert is_suppressed(organisation=org, phone="070-174 06 05")  # the subject's phone too
    assert not Record.objects.filter(subject=subject, purpose__key="marketing").exists()
    assert check(org, subject, "marketing").reason == "marketing_objection"
    assert check(org, subject, "delivery").allowed  # nothing else stops
    [reply] = replies()
    assert "we no longer use your data for direct marketing" in reply.body
    assert "We have erased 1 record that we held only for marketing." in reply.body
    assert "- Mailing company (erasure)" in reply.body
    # The mailer received the marketing record: it is told of the erasure.
    [notice] = RecipientNotification.objects.filter(request=request)
    assert (notice.change, notice.state) == ("erasure", "sent")


def test_a_marketing_objection_with_nothing_matched_still_blocks_the_address(org, deliver):
    request = verify(
        org, deliver, kind="objection", details={"direct_marketing": True}, email="new@example.org"
    )
    assert request.status == RequestStatus.COMPLETED
    assert is_suppressed(organisation=org, email="new@example.org")
    assert "block list" in replies("new@example.org")[0].body


def test_a_subject_matched_only_by_a_typed_personnummer_is_never_acted_on_unproven(
    org, staff, deliver
):
    """Someone found only by a personnummer the person typed is another person until staff
    prove otherwise: approval refuses while the match is included and unproven, and once it
    is excluded the other person's data is untouched (issue 12 §1)."""
    from retention.models import SubjectIdentifier

    proven = customer(org, name="anna", email=EMAIL)
    other = customer(org, name="other", email="other@example.org")
    SubjectIdentifier.objects.create(
        organisation=org, subject=other, kind="personnummer", value="198112189876"
    )
    request = verify(
        org,
        deliver,
        kind="objection",
        details={"direct_marketing": True},
        personnummer="198112189876",
    )
    assert request.status == RequestStatus.NEW  # a typed personnummer: staff look first
    assert not Record.objects.filter(subject=proven, purpose__key="marketing").exists()
    assert Record.objects.filter(subject=other, purpose__key="marketing").exists()

    with pytest.raises(svc.StaffActionError) as refused:
        svc.request_approve(request=request, actor=staff["approver"])
    assert refused.value.code == "identity_unproven"
    match = request.matches.get(subject=other)
    svc.match_exclude(request=request, actor=staff["handler"], match_id=match.pk)
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert Record.objects.filter(subject=other, purpose__key="marketing").exists()
    assert not is_suppressed(organisation=org, email="other@example.org")
    assert "We have erased 1 record that we held only for marketing." in replies()[0].body


def test_a_consent_withdrawal_is_honoured_on_verification_without_staff(org, deliver):
    subject = customer(org, email=EMAIL)

    request = verify(org, deliver, kind="consent_withdrawal", details={"purposes": ["newsletter"]})

    assert request.status == RequestStatus.COMPLETED
    assert not RequestApproval.objects.filter(request=request).exists()
    assert not Record.objects.filter(subject=subject, purpose__key="newsletter").exists()
    answer = check(org, subject, "newsletter")
    assert (answer.allowed, answer.reason) == (False, "consent_withdrawn")
    assert check(org, subject, "delivery").allowed
    [reply] = replies()
    assert "We have stopped the processing that was based on your consent: Newsletter." in (
        reply.body
    )
    assert "does not affect processing that took place before it" in reply.body
    # The letter record was never disclosed: nobody to tell.
    assert not RecipientNotification.objects.filter(request=request).exists()


def test_an_objection_without_compelling_grounds_stops_the_purpose(org, staff, deliver):
    subject = customer(org, email=EMAIL)
    request = verify(
        org,
        deliver,
        kind="objection",
        details={"purposes": ["analytics"], "grounds": "I do not want to be profiled."},
    )
    assert request.status == RequestStatus.NEW  # waits for staff

    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])

    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    analytics = Record.objects.get(subject=subject, purpose__key="analytics")
    assert analytics.restricted_at is not None
    answer = check(org, subject, "analytics")
    assert (answer.allowed, answer.reason) == (False, "objection")
    assert check(org, subject, "delivery").allowed
    assert "We have stopped processing your data for: Analytics." in replies()[0].body


def test_compelling_grounds_recorded_by_staff_keep_the_purpose_and_are_told(org, staff, deliver):
    subject = customer(org, email=EMAIL)
    request = verify(
        org, deliver, kind="objection", details={"purposes": ["analytics"], "grounds": "No."}
    )
    with pytest.raises(svc.StaffActionError):  # grounds must be stated
        ff.objection_decide(
            request=request, actor=staff["handler"], purpose_key="analytics", compelling=True
        )
    ff.objection_decide(
        request=request,
        actor=staff["handler"],
        purpose_key="analytics",
        compelling=True,
        reason="We must detect payment fraud on every order.",
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])

    assert check(org, subject, "analytics").allowed
    assert Record.objects.get(subject=subject, purpose__key="analytics").restricted_at is None
    body = replies()[0].body
    assert "We continue processing for “Analytics”" in body
    assert "We must detect payment fraud on every order." in body


def test_an_objection_to_marketing_and_a_purpose_honours_marketing_at_once_and_waits_for_the_rest(
    org, staff, deliver
):
    subject = customer(org, email=EMAIL)
    request = verify(
        org,
        deliver,
        kind="objection",
        details={"direct_marketing": True, "purposes": ["analytics"], "grounds": "No."},
    )
    assert request.status == RequestStatus.NEW
    assert Fulfilment.objects.get(request=request).honoured_at is not None
    assert is_suppressed(organisation=org, email=EMAIL)
    assert replies() == []  # the reply comes when staff are done

    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    assert check(org, subject, "analytics").reason == "objection"
    [reply] = replies()
    assert "direct marketing" in reply.body and "Analytics" in reply.body


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_marketing_objection_honoured_by_a_worker_survives_a_later_erasure(organisations, worker):
    demo_seed(subjects=0)
    expektra = organisations["expektra"]
    sara = DataSubject.objects.get(organisation=expektra, external_id="demo-expektra-sara-nilsson")
    marketing = expektra.purposes.get(direct_marketing=True)
    assert Record.objects.filter(subject=sara, purpose=marketing).exists()

    request = submit(
        expektra, kind="objection", email=SARA, language="en", details={"direct_marketing": True}
    )
    wait_for(lambda: messages_of(SARA, reference=request.reference), what="the code e-mail")
    [(_subject, body)] = messages_of(SARA, reference=request.reference)
    code = re.search(r"^\s{4}(\d{6})$", body, re.MULTILINE).group(1)
    verification_check(request=request, code=code)
    wait_for(
        lambda: SubjectRequest.objects.get(pk=request.pk).status == RequestStatus.COMPLETED,
        what="the objection",
    )
    assert not RequestApproval.objects.filter(request=request).exists()
    assert not Record.objects.filter(subject=sara, purpose=marketing).exists()
    assert check(expektra, sara, marketing.key).reason == "marketing_objection"

    # Later Sara has everything erased.
    approver = staff_user("approver-ex", [(expektra, "approver")])
    erasure = verified_request(
        expektra, kind="erasure", email=SARA, details={"scope": "all", "categories": []}
    )
    svc.request_approve(request=erasure, actor=approver)
    wait_for(lambda: Fulfilment.objects.filter(request=erasure, job__isnull=False).exists())
    ff.erasure_plan_approve(request=erasure, actor=approver)
    wait_for(
        lambda: SubjectRequest.objects.get(pk=erasure.pk).status == RequestStatus.COMPLETED,
        what="the erasure",
    )
    assert not sara.identifiers.exists()
    assert Suppression.objects.filter(organisation=expektra).exists()
    assert is_suppressed(organisation=expektra, email=SARA)

    # Her CRM sends her old data again: the erasure's tombstone refuses it.
    store = APIClient()
    store.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_token_create(organisation=expektra, name='CRM')}"
    )
    old = store.post(
        "/api/v1/store/subjects", subject_body(expektra, "crm-sara", SARA), format="json"
    ).json()
    assert old["records_skipped_erased"] == 1
    # She comes back as a customer (data collected after the erasure): the block still holds.
    body = subject_body(expektra, "crm-sara", SARA)
    body["records"][0]["collected_at"] = timezone.now().isoformat()
    store.post("/api/v1/store/subjects", body, format="json")
    audience = store.get(f"/api/v1/store/marketing-audience?purpose={marketing.key}").json()
    assert SARA not in {e for r in audience["results"] for e in r["email"]}
    answer = store.get(
        f"/api/v1/store/processing-check?subject=crm-sara&purpose={marketing.key}"
    ).json()
    assert answer == {"allowed": False, "reason": "marketing_objection"}


def test_a_purpose_named_twice_is_stopped_and_told_once(org, staff, deliver):
    customer(org, email=EMAIL)
    request = verified_request(
        org,
        kind="objection",
        email=EMAIL,
        language="en",
        details={"purposes": ["analytics", "analytics"], "grounds": "No profiling."},
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])

    assert Fulfilment.objects.get(request=request).outcome["objection"]["stopped"] == ["analytics"]
    assert "We have stopped processing your data for: Analytics. We keep" in replies()[0].body


def test_deciding_on_a_purpose_the_policy_no_longer_has_is_a_clear_error(org, staff, deliver):
    request = verify(
        org,
        deliver,
        kind="objection",
        details={"purposes": ["analytics"], "grounds": "I do not want to be profiled."},
    )
    org.purposes.filter(key="analytics").delete()  # a later policy version dropped it

    with translation.override("en"), pytest.raises(svc.StaffActionError) as refused:
        ff.objection_decide(
            request=request, actor=staff["handler"], purpose_key="analytics", compelling=False
        )

    assert refused.value.code == "purpose"
    assert str(refused.value) == "That purpose is no longer in the organisation's privacy policy."
