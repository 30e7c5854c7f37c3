"""Restriction (Art. 18): applied with its ground on approval, enforced by the processing check,
recipients told (Art. 19), and lifted only after the person has been told (Art. 18(3))."""

from __future__ import annotations

import importlib

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from requests_app.models import RecipientNotification, RequestStatus, RestrictionLift
from requests_app.services import fulfilment as ff
from requests_app.services import staff as svc
from requests_app.services.outbox import outbox_relay
from requests_app.tasks import fulfilment_start as fulfilment_start_task
from retention.models import AuditEntry, Record
from retention.services.rights import processing_check
from tests.requests_app.helpers import customer, outbox_of, verified_request

EMAIL = "anna@example.org"
MAILER = "privacy@mailer.example.org"


def restricted(org, staff, deliver, *, details=None, language="en"):
    subject = customer(org, email=EMAIL)
    request = verified_request(
        org,
        kind="restriction",
        email=EMAIL,
        language=language,
        details=details or {"ground": "a", "scope": "all", "categories": []},
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    return request, subject


def test_approval_restricts_the_records_with_the_ground_and_the_processing_check_says_no(
    org, staff, deliver
):
    request, subject = restricted(org, staff, deliver)

    assert request.status == RequestStatus.COMPLETED
    records = Record.objects.filter(subject=subject)
    assert {r.restriction_ground for r in records} == {"art18_a"}
    assert all(r.restricted_at for r in records)
    answer = processing_check(
        organisation=org, subject=subject, purpose=org.purposes.get(key="delivery")
    )
    assert (answer.allowed, answer.reason) == (False, "restricted")

    [reply] = [m for m in mail.outbox if m.to == [EMAIL] and "is done" in m.subject]
    assert "We have restricted the processing of 5 records about you." in reply.body
    assert "I contest the accuracy of the data" in reply.body  # ground (a) in plain words
    assert "We will tell you before we lift the restriction." in reply.body
    assert "- Mailing company (restriction)" in reply.body


def test_only_the_chosen_categories_are_restricted(org, staff, deliver):
    request, subject = restricted(
        org,
        staff,
        deliver,
        details={"ground": "c", "scope": "categories", "categories": ["orders"]},
    )
    assert set(
        Record.objects.filter(subject=subject, restricted_at__isnull=False).values_list(
            "category__key", flat=True
        )
    ) == {"orders"}
    assert processing_check(
        organisation=org, subject=subject, purpose=org.purposes.get(key="delivery")
    ).allowed  # its contact details are not restricted
    # The mailer got contact details only: it has nothing to restrict.
    assert not RecipientNotification.objects.filter(request=request).exists()


def test_the_recipients_are_told_once_each_and_the_notice_names_what_they_received(
    org, staff, deliver
):
    request, subject = restricted(org, staff, deliver)
    [notice] = RecipientNotification.objects.filter(request=request)
    assert (notice.change, notice.state) == ("restriction", "sent")
    [told] = [m for m in mail.outbox if m.to == [MAILER]]
    # In the organisation's language (Swedish), with the organisation's ids, not the address.
    assert "artikel 19" in told.subject and "begränsat" in told.body
    assert "cust-anna" in told.body and "anna-name-1-to-mailer" in told.body
    assert EMAIL not in told.body
    entry = AuditEntry.objects.get(action="requests.recipient.notified")
    assert entry.data == {
        "recipient_id": notice.recipient_id,
        "notification_id": notice.pk,
        "change": "restriction",
    }

    # The fulfilment message delivered again: nothing is restricted or sent twice.
    [start] = outbox_of(svc.FULFILMENT_TASK)
    with deliver():
        fulfilment_start_task.run(request_id=request.pk, message_id=start.pk)
        ff.recipient_notify(notification_id=notice.pk, outbox_message_id=notice.outbox_message_id)
        ff.recipient_notify(notification_id=notice.pk, outbox_message_id=None)
    assert len([m for m in mail.outbox if m.to == [MAILER]]) == 1
    assert len([m for m in mail.outbox if m.to == [EMAIL] and "is done" in m.subject]) == 1
    assert AuditEntry.objects.filter(action="retention.restriction.applied").count() == 1


def test_a_recipient_without_an_address_is_logged_and_shown_to_staff(
    org, staff, deliver, staff_client, caplog
):
    org.recipients.filter(key="mailer").update(contact_email="")
    request, _subject = restricted(org, staff, deliver)

    [notice] = RecipientNotification.objects.filter(request=request)
    assert notice.state == RecipientNotification.State.NO_ADDRESS
    assert not [m for m in mail.outbox if m.to == [MAILER]]
    assert AuditEntry.objects.filter(action="requests.recipient.no_address").count() == 1
    assert "has no e-mail address" in caplog.text and EMAIL not in caplog.text
    page = staff_client(staff["viewer"]).get(
        reverse("staff:detail", kwargs={"reference": request.reference}),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "Some recipients have no e-mail address" in page.content.decode()


def test_lifting_tells_the_person_first_and_only_then_lifts(org, staff, deliver, staff_client):
    request, subject = restricted(org, staff, deliver)
    url = reverse(
        "staff:fulfilment", kwargs={"reference": request.reference, "name": "lift_restriction"}
    )
    mail.outbox.clear()

    staff_client(staff["approver"]).post(url, {"reason": "We have checked: your data is right."})
    lift = RestrictionLift.objects.get(request=request)
    # The lifting step cannot run before the person was told.
    assert ff.restriction_lift_carry_out(request_id=request.pk) is False
    assert not Record.objects.filter(subject=subject, restricted_at__isnull=True).exists()

    with deliver():
        outbox_relay()  # what the view's commit hands to the broker
    lift.refresh_from_db()
    assert lift.notified_at is not None and lift.lifted_at is not None
    assert lift.notified_at <= lift.lifted_at
    assert lift.records == 5
    assert not Record.objects.filter(subject=subject, restricted_at__isnull=False).exists()
    [notice] = mail.outbox
    assert notice.to == [EMAIL] and "will be lifted" in notice.subject
    assert "We have checked: your data is right." in notice.body
    assert "Article 18(3)" in notice.body
    actions = list(
        AuditEntry.objects.filter(object_id=str(request.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-3:] == [
        "requests.restriction.lift_requested",
        "requests.restriction.lift_notified",
        "requests.restriction.lifted",
    ]


@pytest.mark.parametrize("role", ["viewer", "handler"])
def test_only_an_approver_may_lift_a_restriction(org, staff, deliver, staff_client, role):
    request, subject = restricted(org, staff, deliver)
    url = reverse(
        "staff:fulfilment", kwargs={"reference": request.reference, "name": "lift_restriction"}
    )
    response = staff_client(staff[role]).post(url, {"reason": "Checked."})
    assert response.status_code == 403
    assert not RestrictionLift.objects.exists()


def test_lifting_needs_a_recent_confirmation_and_is_not_for_another_organisation(
    org, staff, outsider, deliver, staff_client
):
    request, subject = restricted(org, staff, deliver)
    url = reverse(
        "staff:fulfilment", kwargs={"reference": request.reference, "name": "lift_restriction"}
    )
    stale = staff_client(staff["approver"], reauth_age=3600).post(url, {"reason": "Checked."})
    assert stale.status_code == 302 and reverse("staff:reauth") in stale["Location"]
    assert staff_client(outsider).post(url, {"reason": "Checked."}).status_code == 404
    assert not RestrictionLift.objects.exists()


def lift(request, staff, deliver) -> RestrictionLift:
    """Lift the request's restriction as an approver, through both outbox steps."""
    with deliver():
        ff.restriction_lift_request(request=request, actor=staff["approver"], reason="Checked.")
    return RestrictionLift.objects.get(request=request)


def restricted_categories(subject) -> set[str]:
    return set(
        Record.objects.filter(subject=subject, restricted_at__isnull=False).values_list(
            "category__key", flat=True
        )
    )


def test_lifting_one_request_lifts_only_the_records_that_request_restricted(org, staff, deliver):
    orders, subject = restricted(
        org,
        staff,
        deliver,
        details={"ground": "c", "scope": "categories", "categories": ["orders"]},
    )
    everything = verified_request(
        org, kind="restriction", email=EMAIL, language="en", details={"ground": "a"}
    )
    with deliver():
        svc.request_approve(request=everything, actor=staff["approver"])
    assert restricted_categories(subject) == {"orders", "contact"}

    # Lifting "everything" leaves the orders, which the first request restricted.
    assert lift(everything, staff, deliver).records == 3
    assert restricted_categories(subject) == {"orders"}
    assert (
        processing_check(
            organisation=org, subject=subject, purpose=org.purposes.get(key="analytics")
        ).reason
        == "restricted"
    )

    assert lift(orders, staff, deliver).records == 2
    assert restricted_categories(subject) == set()


def test_lifting_a_category_restriction_leaves_another_requests_categories(org, staff, deliver):
    orders, subject = restricted(
        org,
        staff,
        deliver,
        details={"ground": "c", "scope": "categories", "categories": ["orders"]},
    )
    contact = verified_request(
        org,
        kind="restriction",
        email=EMAIL,
        details={"ground": "a", "scope": "categories", "categories": ["contact"]},
    )
    with deliver():
        svc.request_approve(request=contact, actor=staff["approver"])

    assert lift(orders, staff, deliver).records == 2
    assert restricted_categories(subject) == {"contact"}


def test_the_migration_tells_earlier_restrictions_which_requests_placed_them(org, staff, deliver):
    backfill = importlib.import_module(
        "requests_app.migrations.0006_restriction_references_backfill"
    ).BACKFILL
    lifted, subject = restricted(
        org,
        staff,
        deliver,
        details={"ground": "c", "scope": "categories", "categories": ["orders"]},
    )
    lift(lifted, staff, deliver)
    orders = verified_request(
        org, kind="restriction", email=EMAIL, details={"ground": "c", "categories": ["orders"]}
    )
    everything = verified_request(org, kind="restriction", email=EMAIL, details={"ground": "a"})
    for request in (orders, everything):
        with deliver():
            svc.request_approve(request=request, actor=staff["approver"])
    Record.objects.update(restriction_references=[])  # as before the migration

    with connection.cursor() as cursor:
        cursor.execute(backfill)
    references = {
        (r.category.key, tuple(r.restriction_references))
        for r in Record.objects.filter(subject=subject).select_related("category")
    }
    assert references == {
        ("orders", (orders.reference, everything.reference)),
        ("contact", (everything.reference,)),
    }
