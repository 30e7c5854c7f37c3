"""The staff actions as services: every transition, the refused ones, e-mails and the audit."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import translation

from requests_app.models import (
    ClockPause,
    IdentityMethod,
    OutboxMessage,
    ProofMethod,
    RequestApproval,
    RequestResolution,
    RequestStatus,
    SubjectRequest,
)
from requests_app.services import staff as svc
from retention.models import AuditEntry
from tests.requests_app.helpers import make_request, make_subject_with_records

S = RequestStatus
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def actions_of(request):
    return list(
        AuditEntry.objects.filter(object_type="subject_request", object_id=str(request.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def _match(request):
    """An identity check proves one matched subject: the request's (made when needed)."""
    match = request.matches.first()
    if match is None:
        make_subject_with_records(request)
        match = request.matches.get()
    return match


def run(name, request, user):
    """Run one action with valid input."""
    calls = {
        "assign": lambda: svc.request_assign(request=request, actor=user, assignee=user),
        "ask": lambda: svc.request_information_ask(request=request, actor=user, question="Which?"),
        "identity": lambda: svc.request_identity_confirm(
            request=request,
            actor=user,
            method=IdentityMethod.ID_DOCUMENT,
            match_id=_match(request).pk,
        ),
        "extend": lambda: svc.request_deadline_extend(
            request=request, actor=user, months=2, reason="Many requests this month"
        ),
        "refuse": lambda: svc.request_refuse(
            request=request, actor=user, reasons=["no_data"], text="We hold nothing."
        ),
        "approve": lambda: svc.request_approve(request=request, actor=user),
        "complete": lambda: svc.request_complete(request=request, actor=user, reply="Done."),
        "cancel": lambda: svc.request_cancel(request=request, actor=user),
    }
    return calls[name]()


# Which actions each status allows (for an objection, as the admin). An erasure, restriction,
# access or portability request is never completed by hand (see below).
ALLOWED = {
    S.NEW: {"assign", "ask", "identity", "extend", "refuse", "approve", "complete", "cancel"},
    S.IN_PROGRESS: {
        "assign",
        "ask",
        "identity",
        "extend",
        "refuse",
        "approve",
        "complete",
        "cancel",
    },
    S.AWAITING_SUBJECT: {"assign", "identity", "extend", "refuse", "cancel"},
    S.APPROVED: {"assign", "extend", "complete", "cancel"},
    S.FULFILLING: {"assign", "extend", "complete"},
    S.COMPLETED: set(),
    S.REFUSED: set(),
    S.CANCELLED: set(),
}


@pytest.mark.parametrize("status", list(ALLOWED))
def test_each_transition_is_allowed_or_refused_by_the_state(org, staff, status):
    for action in [
        "assign",
        "ask",
        "identity",
        "extend",
        "refuse",
        "approve",
        "complete",
        "cancel",
    ]:
        request = make_request(org, kind="objection", status=status)
        if status == S.AWAITING_SUBJECT:
            ClockPause.objects.create(request=request, started_at=request.received_at, reason="x")
        if action in ALLOWED[status]:
            run(action, request, staff["admin"])
        else:
            with pytest.raises(svc.InvalidTransition):
                run(action, request, staff["admin"])
            request.refresh_from_db()
            assert request.status == status, action


def test_assigning_a_new_request_starts_it_and_unassign_keeps_the_status(org, staff):
    request = make_request(org)
    svc.request_assign(request=request, actor=staff["handler"], assignee=staff["handler"])
    request.refresh_from_db()
    assert (request.status, request.assignee) == (S.IN_PROGRESS, staff["handler"])
    svc.request_unassign(request=request, actor=staff["handler"])
    request.refresh_from_db()
    assert (request.status, request.assignee) == (S.IN_PROGRESS, None)
    assert actions_of(request) == ["requests.request.assigned", "requests.request.unassigned"]


def test_it_refuses_to_assign_a_viewer(org, staff):
    request = make_request(org)
    with pytest.raises(svc.StaffActionError):
        svc.request_assign(request=request, actor=staff["handler"], assignee=staff["viewer"])


def test_a_note_is_internal_and_audited_without_its_text(org, staff):
    request = make_request(org)
    note = svc.request_note_add(request=request, actor=staff["handler"], body="Call back Monday")
    entry = AuditEntry.objects.get(action="requests.note.added")
    assert entry.data == {"note_id": note.pk}
    assert mail.outbox == []


def test_asking_pauses_the_clock_and_the_answer_resumes_it(org, staff, deliver):
    with time_machine.travel(dt.datetime(2025, 3, 3, 10, tzinfo=STOCKHOLM), tick=False):
        request = make_request(org, language="en")
        assert request.due_date == dt.date(2025, 4, 3)
        with deliver():
            svc.request_information_ask(
                request=request, actor=staff["handler"], question="Which account number?"
            )
    request.refresh_from_db()
    assert request.status == S.AWAITING_SUBJECT
    assert request.pauses.filter(ended_at__isnull=True).count() == 1
    message = mail.outbox[-1]
    assert message.to == ["anna@example.org"]
    assert "Which account number?" in message.body
    assert "paused" in message.body  # English, the person's language
    with time_machine.travel(dt.datetime(2025, 3, 13, 10, tzinfo=STOCKHOLM), tick=False):
        svc.request_information_answer(request=request, answer="It is 1234.")
    request.refresh_from_db()
    assert request.status == S.IN_PROGRESS
    assert request.due_date == dt.date(2025, 4, 14)  # 10 days later; 13 April is a Sunday
    assert request.questions.get().answer == "It is 1234."


def test_the_answer_is_refused_when_nothing_was_asked(org):
    request = make_request(org, status=S.IN_PROGRESS)
    with pytest.raises(svc.InvalidTransition):
        svc.request_information_answer(request=request, answer="Hello")


def test_identity_confirmed_by_other_means_records_how_and_for_whom(org, staff):
    request = make_request(org)
    subject = make_subject_with_records(request)
    match = request.matches.get()
    match.proven_by = ProofMethod.NONE  # matched by a typed personnummer, say
    match.save(update_fields=["proven_by"])
    with pytest.raises(svc.StaffActionError):  # "other" needs a description
        svc.request_identity_confirm(
            request=request, actor=staff["handler"], method=IdentityMethod.OTHER, match_id=match.pk
        )
    with pytest.raises(svc.StaffActionError) as refused:  # a check proves one named subject
        svc.request_identity_confirm(
            request=request, actor=staff["handler"], method=IdentityMethod.BANKID
        )
    assert refused.value.code == "match"
    check = svc.request_identity_confirm(
        request=request, actor=staff["handler"], method=IdentityMethod.BANKID, match_id=match.pk
    )
    assert (check.checked_by, check.match) == (staff["handler"], match)
    match.refresh_from_db()
    assert match.proven_by == ProofMethod.IDENTITY_CHECK
    entry = AuditEntry.objects.get(action="requests.identity.confirmed")
    assert entry.data == {
        "check_id": check.pk,
        "method": "bankid",
        "match_id": match.pk,
        "subject_id": subject.pk,
    }


class TestExtension:
    def test_it_extends_by_two_months_before_the_original_due_date_and_tells_why(
        self, org, staff, deliver
    ):
        with time_machine.travel(dt.datetime(2025, 1, 31, 12, tzinfo=STOCKHOLM), tick=False):
            request = make_request(org)
            assert request.original_due_date == dt.date(2025, 2, 28)
        feb_28 = dt.datetime(2025, 2, 28, 16, tzinfo=STOCKHOLM)
        with time_machine.travel(feb_28, tick=False), deliver():
            svc.request_deadline_extend(
                request=request, actor=staff["approver"], months=2, reason="Complex request"
            )
        request.refresh_from_db()
        # Art. 12(3) and 1182/71 Art. 3: three months from receipt on 31 January 2025 end on
        # 30 April 2025 (not two months after the original due date, 28 April).
        assert request.extended_due_date == dt.date(2025, 4, 30)
        assert request.due_date == dt.date(2025, 4, 30)
        assert "Complex request" in mail.outbox[-1].body
        assert "requests.request.extended" in actions_of(request)

    def test_it_refuses_after_the_original_due_date(self, org, staff):
        with time_machine.travel(dt.datetime(2025, 1, 31, 12, tzinfo=STOCKHOLM), tick=False):
            request = make_request(org)
        march_3 = dt.datetime(2025, 3, 3, 9, tzinfo=STOCKHOLM)
        with time_machine.travel(march_3, tick=False), pytest.raises(svc.StaffActionError) as exc:
            svc.request_deadline_extend(
                request=request, actor=staff["approver"], months=1, reason="Late"
            )
        assert exc.value.code == "too_late"

    @pytest.mark.parametrize(
        ("months", "reason", "code"),
        [(3, "x", "too_long"), (0, "x", "too_long"), (1, " ", "reason_required")],
    )
    def test_it_refuses_more_than_two_months_or_no_reason(self, org, staff, months, reason, code):
        request = make_request(org)
        with pytest.raises(svc.StaffActionError) as exc:
            svc.request_deadline_extend(
                request=request, actor=staff["approver"], months=months, reason=reason
            )
        assert exc.value.code == code

    def test_it_refuses_a_second_extension(self, org, staff):
        request = make_request(org)
        svc.request_deadline_extend(request=request, actor=staff["approver"], months=1, reason="a")
        with pytest.raises(svc.StaffActionError) as exc:
            svc.request_deadline_extend(
                request=request, actor=staff["approver"], months=1, reason="b"
            )
        assert exc.value.code == "already_extended"


def test_a_refusal_tells_the_reasons_and_the_right_to_complain_and_go_to_court(org, staff, deliver):
    request = make_request(org, language="sv")
    with deliver():
        resolution = svc.request_refuse(
            request=request,
            actor=staff["approver"],
            reasons=["erasure_exception", "other"],
            text="Bokföringslagen kräver att vi sparar fakturorna.",
        )
    request.refresh_from_db()
    assert request.status == S.REFUSED
    assert resolution.on_time is True
    body = mail.outbox[-1].body
    assert "Bokföringslagen kräver" in body
    assert "IMY" in body and "imy.se" in body
    assert "domstol" in body
    entry = AuditEntry.objects.get(action="requests.request.refused")
    assert entry.data["reasons"] == ["erasure_exception", "other"]
    assert "Bokföringslagen" not in str(entry.data)


def test_a_refusal_needs_a_known_reason_and_a_text(org, staff):
    request = make_request(org)
    for reasons, text in [([], "x"), (["made_up"], "x"), (["no_data"], "  ")]:
        with pytest.raises(svc.StaffActionError):
            svc.request_refuse(request=request, actor=staff["approver"], reasons=reasons, text=text)


def test_approval_moves_on_and_enqueues_the_fulfilment_job_through_the_outbox(org, staff, deliver):
    request = make_request(org)
    with deliver():
        approval = svc.request_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    assert request.status == S.APPROVED
    job = OutboxMessage.objects.get(pk=approval.outbox_message_id)
    assert job.task_name == "requests_app.tasks.fulfilment_start"
    assert job.payload == {"request_id": request.pk}
    assert job.dispatched_at is not None
    assert "requests.request.approved" in actions_of(request)


SELF_COMPLETING = ["erasure", "restriction", "access", "portability"]


@pytest.mark.parametrize("kind", SELF_COMPLETING)
@pytest.mark.parametrize("status", [S.NEW, S.IN_PROGRESS, S.APPROVED, S.FULFILLING])
def test_a_request_a_worker_carries_out_cannot_be_completed_by_hand(org, staff, kind, status):
    request = make_request(org, kind=kind, status=status)
    with translation.override("en"), pytest.raises(svc.InvalidTransition) as refused:
        svc.request_complete(request=request, actor=staff["admin"], reply="Done.")
    assert refused.value.code == "completed_by_fulfilment"
    assert "cannot be completed by hand" in refused.value.message
    request.refresh_from_db()
    assert request.status == status
    assert not RequestResolution.objects.filter(request=request).exists()
    assert actions_of(request) == []


def test_the_refusal_to_complete_by_hand_is_in_swedish_too(org, staff):
    request = make_request(org, kind="erasure", status=S.FULFILLING)
    with translation.override("sv"), pytest.raises(svc.InvalidTransition) as refused:
        svc.request_complete(request=request, actor=staff["admin"], reply="Klart.")
    assert "kan inte avslutas för hand" in refused.value.message


@pytest.mark.parametrize("kind", ["rectification", "objection", "consent_withdrawal"])
def test_other_requests_can_still_be_completed_with_a_reply(org, staff, kind):
    request = make_request(org, kind=kind, status=S.IN_PROGRESS)
    svc.request_complete(request=request, actor=staff["handler"], reply="Here is our answer.")
    request.refresh_from_db()
    assert request.status == S.COMPLETED


@pytest.mark.parametrize("language, expected", [("en", "by hand"), ("sv", "för hand")])
def test_the_page_shows_why_an_erasure_cannot_be_completed_by_hand(
    org, staff, staff_client, language, expected
):
    request = make_request(org, kind="erasure", status=S.FULFILLING)
    url = reverse("staff:action", kwargs={"reference": request.reference, "name": "complete"})
    response = staff_client(staff["handler"]).post(
        url, {"reply": "Done."}, HTTP_ACCEPT_LANGUAGE=language
    )
    assert response.status_code == 409
    assert expected in response.content.decode()
    request.refresh_from_db()
    assert request.status == S.FULFILLING


@pytest.mark.parametrize("kind", SELF_COMPLETING)
def test_the_page_has_no_complete_form_for_a_request_a_worker_carries_out(
    org, staff, staff_client, kind
):
    request = make_request(org, kind=kind, status=S.IN_PROGRESS)
    url = reverse("staff:detail", kwargs={"reference": request.reference})
    client = staff_client(staff["handler"])
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="action-complete"' not in html and "Complete with a reply" not in html
    assert 'id="completes-itself"' in html and "completed by hand" in html
    assert "This request completes itself when a worker" in html
    assert 'id="action-cancel"' in html  # the other actions stay
    swedish = client.get(url, HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "Begäran avslutas av sig själv" in swedish


def test_other_requests_keep_the_complete_form_on_the_page(org, staff, staff_client):
    request = make_request(org, kind="rectification", status=S.IN_PROGRESS)
    url = reverse("staff:detail", kwargs={"reference": request.reference})
    html = staff_client(staff["handler"]).get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="action-complete"' in html and 'id="completes-itself"' not in html


def test_cancelling_ends_an_open_pause_and_tells_the_person(org, staff, deliver):
    request = make_request(org, language="en")
    svc.request_information_ask(request=request, actor=staff["handler"], question="?")
    with deliver():
        svc.request_cancel(request=request, actor=staff["handler"], note="Phoned us")
    request.refresh_from_db()
    assert request.status == S.CANCELLED
    assert not request.pauses.filter(ended_at__isnull=True).exists()
    assert "cancelled" in mail.outbox[-1].subject


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_make_exactly_one_approval(org, staff):
    request = make_request(org)
    barrier = threading.Barrier(2)
    results = []

    def approve():
        try:
            barrier.wait()
            svc.request_approve(request=request, actor=staff["approver"])
            results.append("ok")
        except svc.InvalidTransition:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused"]
    assert RequestApproval.objects.filter(request=request).count() == 1
    assert SubjectRequest.objects.get(pk=request.pk).status == S.APPROVED
    assert (
        OutboxMessage.objects.filter(task_name="requests_app.tasks.fulfilment_start").count() == 1
    )
    assert AuditEntry.objects.filter(action="requests.request.approved").count() == 1


def test_the_person_answers_on_the_public_reply_page(org, staff, client):
    request = make_request(org, language="en")
    svc.request_information_ask(request=request, actor=staff["handler"], question="Which shop?")
    url = reverse(
        "staff_public:reply", kwargs={"org_slug": org.slug, "reference": request.reference}
    )
    # Without having proved the address: sent to the status page (which asks for it).
    response = client.get(url)
    assert response.status_code == 302 and "/reply/" not in response["Location"]
    session = client.session
    session["dsr_access"] = [request.pk]
    session.save()
    assert "Which shop?" in client.get(url).content.decode()
    response = client.post(url, {"answer": "The one in Lund"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == S.IN_PROGRESS
    assert request.questions.get().answer == "The one in Lund"
    entry = AuditEntry.objects.get(action="requests.information.answered")
    assert entry.actor_kind == "subject" and "Lund" not in str(entry.data)
