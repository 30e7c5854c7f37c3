"""Rectification (Art. 16): staff accept each proposed correction into a record's field or reject
it with a reason; on approval the accepted ones are made, the supplementary statement is stored,
the recipients are told with the corrected values (Art. 19), and the reply lists both."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from requests_app.models import CorrectionDecision, RequestStatus
from requests_app.services import fulfilment as ff
from requests_app.services import staff as svc
from retention.models import AuditEntry, Record
from tests.requests_app.helpers import customer, verified_request

EMAIL = "anna@example.org"
MAILER = "privacy@mailer.example.org"
CORRECTIONS = {
    "corrections": [
        {"wrong": "My name is spelt Anna Andersson", "correct": "Anna Anderzon"},
        {"wrong": "Order 1001 cost 399", "correct": "It cost 299"},
    ],
    "statement": "I changed my surname in May.",
}


@pytest.fixture
def rectification(org):
    subject = customer(org, email=EMAIL)
    request = verified_request(
        org, kind="rectification", email=EMAIL, language="en", details=CORRECTIONS
    )
    return request, subject


def test_accepted_corrections_are_made_rejected_ones_explained_and_the_statement_stored(
    org, staff, deliver, rectification
):
    request, subject = rectification
    name = Record.objects.get(subject=subject, external_id="anna-name-1")
    ff.correction_decide(
        request=request, actor=staff["handler"], index=0, accepted=True, target=f"{name.pk}:name"
    )
    ff.correction_decide(
        request=request,
        actor=staff["handler"],
        index=1,
        accepted=False,
        reason="Our receipt shows 399 kr.",
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])

    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    name.refresh_from_db()
    assert name.data["name"] == "Anna Anderzon"  # the person's value; the old one is gone
    assert Record.objects.get(subject=subject, external_id="anna-order-1").data["amount"] == "399"
    subject.refresh_from_db()
    assert subject.supplementary_statement == "I changed my surname in May."
    [reply] = [m for m in mail.outbox if m.to == [EMAIL] and "is done" in m.subject]
    assert "Corrections we have made:\n- “My name is spelt Anna Andersson” → “Anna Anderzon”" in (
        reply.body
    )
    assert "“Order 1001 cost 399” → “It cost 299”: Our receipt shows 399 kr." in reply.body
    assert "Your supplementary statement is stored with your data." in reply.body
    assert "- Mailing company (rectification)" in reply.body
    # The mailer received the name record: it gets the corrected value.
    [told] = [m for m in mail.outbox if m.to == [MAILER]]
    assert "Anderzon" in told.body and "anna-name-1-to-mailer" in told.body
    # The audit trail holds ids and flags, not the values.
    for entry in AuditEntry.objects.filter(action__startswith="requests.correction"):
        assert "Anderzon" not in str(entry.data)


def test_a_request_cannot_be_approved_until_every_correction_is_decided(org, staff, rectification):
    request, subject = rectification
    name = Record.objects.get(subject=subject, external_id="anna-name-1")
    ff.correction_decide(
        request=request, actor=staff["handler"], index=0, accepted=True, target=f"{name.pk}:name"
    )
    with pytest.raises(svc.StaffActionError) as refused:
        svc.request_approve(request=request, actor=staff["approver"])
    assert refused.value.code == "undecided"
    request.refresh_from_db()
    assert request.status == RequestStatus.NEW


def test_a_correction_goes_only_into_a_field_of_a_matched_subjects_record(
    org, staff, rectification
):
    request, _subject = rectification
    stranger = customer(org, name="other", email="other@example.org")
    theirs = Record.objects.get(subject=stranger, external_id="other-name-1")
    for target in [f"{theirs.pk}:name", "0:name", "nonsense"]:
        with pytest.raises(svc.StaffActionError):
            ff.correction_decide(
                request=request, actor=staff["handler"], index=0, accepted=True, target=target
            )
    mine = Record.objects.get(subject=_subject, external_id="anna-name-1")
    with pytest.raises(svc.StaffActionError):  # not a field of the contact category
        ff.correction_decide(
            request=request, actor=staff["handler"], index=0, accepted=True, target=f"{mine.pk}:x"
        )
    with pytest.raises(svc.StaffActionError):  # a rejection needs its reason
        ff.correction_decide(request=request, actor=staff["handler"], index=0, accepted=False)
    assert not CorrectionDecision.objects.exists()


def test_staff_decide_on_the_page_and_a_viewer_may_not(org, staff, staff_client, rectification):
    request, subject = rectification
    name = Record.objects.get(subject=subject, external_id="anna-name-1")
    url = reverse("staff:fulfilment", kwargs={"reference": request.reference, "name": "correction"})
    detail = reverse("staff:detail", kwargs={"reference": request.reference})
    page = staff_client(staff["handler"]).get(detail, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Proposed corrections (Art. 16)" in page and f'value="{name.pk}:name"' in page
    assert "Anna Andersson</option>" not in page  # values are not listed, ids are

    viewer = staff_client(staff["viewer"]).post(
        url, {"index": 0, "decision": "reject", "reason": "No."}
    )
    assert viewer.status_code == 403
    handler = staff_client(staff["handler"]).post(
        url, {"index": 0, "decision": "accept", "target": f"{name.pk}:name", "value": ""}
    )
    assert handler.status_code == 302
    decision = CorrectionDecision.objects.get(request=request, index=0)
    assert (decision.accepted, decision.field, decision.value) == (True, "name", "Anna Anderzon")
