"""Erasure (Art. 17) of an approved request: a plan, an approver's approval, a worker that erases,
a reply that says what was erased and what was kept, why and until when, and every recipient
told once (Art. 19). Exactly once, however often a message is delivered."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse

from requests_app.models import (
    Fulfilment,
    OutboxMessage,
    RecipientNotification,
    RequestResolution,
    RequestStatus,
    SubjectRequest,
)
from requests_app.services import fulfilment as ff
from requests_app.services import staff as svc
from requests_app.services.staff import FULFILMENT_TASK
from requests_app.services.workflow import NOTIFY_TASK
from requests_app.tasks import erasure_job_run
from requests_app.tasks import fulfilment_start as fulfilment_start_task
from retention.models import (
    AuditEntry,
    DataSubject,
    Record,
    RecordStoreJob,
    RetentionRule,
    SubjectIdentifier,
)
from retention.services.holds import hold_place
from tests.requests_app.helpers import ANNA, customer, messages_of, outbox_of, verified_request
from tests.waiting import wait_for

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ALL = {"scope": "all", "categories": []}


def completions_of(request) -> int:
    return AuditEntry.objects.filter(
        action="requests.request.completed", object_id=str(request.pk)
    ).count()


def replies_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to and "klar" in m.subject.lower()]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_framsteget_customer_is_erased_except_the_bookkeeping_fields_kept_until_the_law_ends(
    framsteget, framsteget_staff, staff_client, worker
):
    anna = DataSubject.objects.get(
        organisation=framsteget, external_id="demo-framsteget-anna-andersson"
    )
    paid_years = set(
        Record.objects.filter(subject=anna, category__key="invoice", settled_at__isnull=False)
        .values_list("settled_at__year", flat=True)
        .distinct()
    )
    records = Record.objects.filter(subject=anna).count()
    request = verified_request(framsteget, kind="erasure", email=ANNA, language="en", details=ALL)
    approver = staff_client(framsteget_staff["approver"])
    detail = reverse("staff:detail", kwargs={"reference": request.reference})

    approver.post(
        reverse("staff:action", kwargs={"reference": request.reference, "name": "approve"})
    )
    wait_for(
        lambda: Fulfilment.objects.filter(request=request, job__isnull=False).exists(),
        what="the erasure plan",
    )
    page = approver.get(detail, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Erasure plan" in page and "Accounting records (Swedish Bookkeeping Act)" in page
    # The unpaid invoice: bookkeeping counts from the payment, so the policy gives no date
    # until which it is kept: staff are told to fix it (not "reduce ... until (none)").
    assert "policy error: the policy gives no keep-until date" in page
    assert "1 record is kept because a law's rule covers it" in page
    assert SubjectRequest.objects.get(pk=request.pk).status == RequestStatus.APPROVED
    assert Record.objects.filter(subject=anna).count() == records  # nothing erased yet

    approver.post(
        reverse("staff:fulfilment", kwargs={"reference": request.reference, "name": "approve_plan"})
    )
    wait_for(
        lambda: SubjectRequest.objects.get(pk=request.pk).status == RequestStatus.COMPLETED,
        what="the erasure",
    )

    # In the record store only the invoices are left, restricted: the paid ones reduced to
    # their bookkeeping fields until the end of the seventh year after the calendar year of
    # payment; the unpaid one (no date to count from: a policy error) kept as it was.
    bookkeeping = set(RetentionRule.objects.get(organisation=framsteget, key="bookkeeping").fields)
    remaining = list(Record.objects.filter(subject=anna))
    assert {r.category.key for r in remaining} == {"invoice"} and len(remaining) == 3
    for record in remaining:
        assert record.restricted_at is not None
        if record.settled_at:
            assert set(record.data) <= bookkeeping and "email" not in record.data
            assert record.expires_at.astimezone(STOCKHOLM) == dt.datetime(
                record.settled_at.astimezone(STOCKHOLM).year + 8, 1, 1, tzinfo=STOCKHOLM
            )
        else:
            assert record.rule.key == "paid_invoice" and record.expires_at is None
    assert SubjectIdentifier.objects.filter(subject=anna).exists()  # kept with the invoices

    # The reply, in English: erased, kept, why and until when, and who was told.
    wait_for(lambda: any("is done" in s for s, _ in messages_of(ANNA, reference=request.reference)))
    [(_, reply)] = [m for m in messages_of(ANNA, reference=request.reference) if "is done" in m[0]]
    assert "What we have erased:" in reply
    assert "- IP addresses: 2 records" in reply
    assert "- Customer details (contact): 1 record" in reply
    assert "- Fault-finding data: 1 record" in reply
    assert "Invoices and payments" in reply and "We keep only: amount, currency" in reply
    assert "bokföringslagen 1999:1078, chapter 7, section 2" in reply
    for year in paid_years:
        assert f"Kept until: 31 December {year + 7}." in reply
    # the unpaid invoice: its period has not started
    assert "Kept until: the period the law sets has not started yet" in reply
    assert "- Print supplier (erasure)" in reply
    assert "192.0.2" not in reply  # no erased data quoted back

    # The print supplier got the invoice; it is told once.
    wait_for(
        lambda: RecipientNotification.objects.filter(
            request=request, state=RecipientNotification.State.SENT
        ).exists(),
        what="the Art. 19 notice",
    )
    [notice] = RecipientNotification.objects.filter(request=request)
    assert (notice.recipient.key, notice.change) == ("print_processor", "erasure")
    told = messages_of("framsteget-print-processor@example.org")
    assert len(told) == 1 and "demo-framsteget-anna-andersson" in told[0][1]
    assert completions_of(request) == 1
    assert (
        AuditEntry.objects.filter(
            action="retention.erasure.completed", object_id=str(notice.request.fulfilment.job_id)
        ).count()
        == 1
    )


def test_the_fulfilment_message_delivered_twice_makes_one_plan_one_erasure_and_one_reply(
    org, staff, deliver
):
    subject = customer(org)
    request = verified_request(org, kind="erasure", email="anna@example.org", details=ALL)
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    [start] = outbox_of(FULFILMENT_TASK)
    # The broker hands the message out again (a worker died before acknowledging it).
    fulfilment_start_task.run(request_id=request.pk, message_id=start.pk)
    assert RecordStoreJob.objects.count() == 1

    with deliver():
        ff.erasure_plan_approve(request=request, actor=staff["approver"])
    [run] = outbox_of(ff.ERASURE_RUN_TASK)
    with deliver():
        erasure_job_run.run(job_id=run.payload["job_id"], message_id=run.pk)
        erasure_job_run.run(job_id=run.payload["job_id"])
        fulfilment_start_task.run(request_id=request.pk, message_id=start.pk)

    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert not Record.objects.filter(subject=subject).exists()
    assert RequestResolution.objects.filter(request=request).count() == 1
    assert completions_of(request) == 1
    assert len(replies_to("anna@example.org")) == 1
    assert len([m for m in mail.outbox if m.to == ["privacy@mailer.example.org"]]) == 1
    # Delivering the reply and the notice again sends nothing more.
    for message in OutboxMessage.objects.filter(task_name__in=[NOTIFY_TASK, ff.RECIPIENT_TASK]):
        OutboxMessage.objects.filter(pk=message.pk).update(dispatched_at=None)
    with deliver():
        from requests_app.services.outbox import outbox_relay

        outbox_relay()
    assert len(replies_to("anna@example.org")) == 1
    assert len([m for m in mail.outbox if m.to == ["privacy@mailer.example.org"]]) == 1


def test_a_person_with_no_data_gets_an_empty_plan_and_a_reply_that_we_hold_nothing(
    org, staff, deliver
):
    request = verified_request(org, kind="erasure", email="nobody@example.org", language="en")
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    fulfilment = Fulfilment.objects.get(request=request)
    assert fulfilment.job.plan == []
    with deliver():
        ff.erasure_plan_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    [reply] = [m for m in mail.outbox if "is done" in m.subject]
    assert "We hold no personal data about you, so there was nothing to erase." in reply.body
    assert "Art. 19" not in reply.body


def test_only_the_chosen_categories_are_planned_and_only_their_recipients_told(org, staff, deliver):
    subject = customer(org)
    request = verified_request(
        org,
        kind="erasure",
        email="anna@example.org",
        details={"scope": "categories", "categories": ["orders"]},
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    job = Fulfilment.objects.get(request=request).job
    assert {item["category"] for item in job.plan} == {"orders"}
    with deliver():
        ff.erasure_plan_approve(request=request, actor=staff["approver"])
    assert set(Record.objects.filter(subject=subject).values_list("category__key", flat=True)) == {
        "contact"
    }
    # The mailer got contact details only: nothing it holds was erased, so it is not told.
    assert not RecipientNotification.objects.filter(request=request).exists()


def test_a_legal_hold_placed_after_the_plan_was_approved_is_what_the_reply_reports(
    org, staff, deliver
):
    subject = customer(org)
    request = verified_request(org, kind="erasure", email="anna@example.org", language="en")
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    with deliver():
        ff.erasure_plan_approve(request=request, actor=staff["approver"])
        # A dispute comes up before the worker gets to the job.
        hold_place(organisation=org, reason="dispute", subject=subject)
    assert Record.objects.filter(subject=subject).count() == 5
    request.refresh_from_db()
    [reply] = [m for m in mail.outbox if "is done" in m.subject]
    assert "What we have erased:" not in reply.body
    assert "A legal hold stops us from erasing it" in reply.body
    assert "Kept until: the legal hold is lifted." in reply.body


def test_the_plan_waits_for_an_approver_and_cannot_be_approved_twice(org, staff, deliver):
    customer(org)
    request = verified_request(org, kind="erasure", email="anna@example.org")
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        ff.erasure_plan_approve(request=request, actor=staff["handler"])
    assert Fulfilment.objects.get(request=request).job.state == "planned"
    ff.erasure_plan_approve(request=request, actor=staff["approver"])
    with pytest.raises(svc.InvalidTransition):
        ff.erasure_plan_approve(request=request, actor=staff["admin"])
    request.refresh_from_db()
    assert request.status == RequestStatus.FULFILLING
    assert [m.payload for m in outbox_of(ff.ERASURE_RUN_TASK)] == [
        {"job_id": Fulfilment.objects.get(request=request).job_id}
    ]


@pytest.mark.parametrize(
    "language, kept, subject_word",
    [
        (
            "sv",
            "Vi behåller bara: belopp, valuta, kundens adress, kundens namn, beskrivning, "
            "fakturadatum, fakturanummer, betalningsdatum, moms.",
            "klar",
        ),
        (
            "en",
            "We keep only: amount, currency, customer's address, customer's name, description, "
            "invoice date, invoice number, payment date, VAT.",
            "is done",
        ),
    ],
)
def test_the_reply_names_the_kept_invoice_fields_in_the_persons_language(
    framsteget, framsteget_staff, deliver, language, kept, subject_word
):
    request = verified_request(
        framsteget, kind="erasure", email=ANNA, language=language, details=ALL
    )
    with deliver():
        svc.request_approve(request=request, actor=framsteget_staff["approver"])
    with deliver():
        ff.erasure_plan_approve(request=request, actor=framsteget_staff["approver"])

    [reply] = [m for m in mail.outbox if m.to == [ANNA] and subject_word in m.subject.lower()]
    assert kept in reply.body
    for key in ("invoice_number", "customer_name", "payment_date", "vat,"):
        assert key not in reply.body
