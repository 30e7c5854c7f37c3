"""Attacks on legal holds and restrictions: a request that would erase or change data a hold
or an Art. 18 restriction protects.

Issue 12 §2: "Every path that deletes or changes records must check them: sweeps, erasure,
consent withdrawal, objection and rectification. A held record is restricted instead of
deleted, and the reply says so." §3: "the sweep and rectification leave restricted records
alone until the restriction is lifted." GDPR Art. 17(3)(e) (legal claims), Art. 18(2)
(restricted data is, except for storage, not processed).

The consent withdrawal and the marketing objection run as soon as the person has proved
their address, with no staff in between: the person (or someone with their mailbox) can
trigger them at any time, so they must honour a hold by themselves.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from requests_app.models import CorrectionDecision, RecipientNotification, RequestStatus
from requests_app.services import fulfilment as ff
from requests_app.services import staff as svc
from retention.models import Record
from retention.services.holds import hold_place
from retention.services.rights import is_suppressed, processing_check, processing_stop
from tests.requests_app.conftest import last_code
from tests.requests_app.helpers import customer, verified_request

EMAIL = "anna@example.org"
HOLD_REPLY = "kept under a legal hold"


def file_and_verify(deliver, kind: str, details: dict) -> str:
    """The person files over the public API and proves their address; returns the reference."""
    person = Client()
    body = {
        "organisation": "testorg",
        "type": kind,
        "email": EMAIL,
        "full_name": "Anna Andersson",
        "language": "en",
        **details,
    }
    with deliver():
        reference = person.post("/api/v1/requests", body, content_type="application/json").json()[
            "reference"
        ]
    with deliver():
        response = person.post(
            f"/api/v1/requests/{reference}/verify",
            {"code": last_code(EMAIL)},
            content_type="application/json",
        )
    assert response.status_code == 200
    return reference


def reply_to_person() -> str:
    [reply] = [m for m in mail.outbox if m.to == [EMAIL] and "is done" in m.subject]
    return reply.body


def place(org, subject, scope: str):
    """A hold on the subject, on the record's category, or on the whole organisation."""
    if scope == "subject":
        return hold_place(organisation=org, reason="Dispute 2026:14", subject=subject)
    if scope == "category":
        return hold_place(
            organisation=org, reason="Dispute 2026:14", category=org.categories.get(key="contact")
        )
    return hold_place(organisation=org, reason="Order from the authority")


@pytest.mark.parametrize("scope", ["subject", "category", "organisation"])
def test_a_consent_withdrawal_does_not_erase_a_held_record(org, deliver, scope):
    subject = customer(org, email=EMAIL)
    place(org, subject, scope)

    file_and_verify(deliver, "consent_withdrawal", {"purposes": ["newsletter"]})

    letter = Record.objects.get(subject=subject, purpose__key="newsletter")
    assert letter.restricted_at is not None
    assert letter.restriction_ground == "legal_hold"
    answer = processing_check(
        organisation=org, subject=subject, purpose=org.purposes.get(key="newsletter")
    )
    assert (answer.allowed, answer.reason) == (False, "consent_withdrawn")  # still stopped
    body = reply_to_person()
    assert HOLD_REPLY in body
    assert "2026:14" not in body  # nothing of the hold itself


@pytest.mark.parametrize("scope", ["subject", "category", "organisation"])
def test_a_marketing_objection_does_not_erase_a_held_record(org, deliver, scope):
    subject = customer(org, email=EMAIL)
    place(org, subject, scope)

    reference = file_and_verify(deliver, "objection", {"direct_marketing": True})

    marketing = Record.objects.get(subject=subject, purpose__key="marketing")
    assert (marketing.restricted_at is not None, marketing.restriction_ground) == (
        True,
        "legal_hold",
    )
    assert is_suppressed(organisation=org, email=EMAIL)  # the block itself always holds
    assert HOLD_REPLY in reply_to_person()
    # Nothing was erased, so the mailer is not told of an erasure.
    assert not RecipientNotification.objects.filter(request__reference=reference).exists()


def test_a_hold_on_another_subject_or_category_does_not_stop_the_withdrawal(org, deliver):
    subject = customer(org, email=EMAIL)
    other = customer(org, name="other", email="other@example.org")
    hold_place(organisation=org, reason="Dispute", subject=other)
    hold_place(organisation=org, reason="Audit", category=org.categories.get(key="orders"))

    file_and_verify(deliver, "consent_withdrawal", {"purposes": ["newsletter"]})

    assert not Record.objects.filter(subject=subject, purpose__key="newsletter").exists()
    assert HOLD_REPLY not in reply_to_person()


def test_an_objection_that_stops_a_consent_purpose_does_not_erase_a_held_record(org):
    subject = customer(org, email=EMAIL)
    hold_place(organisation=org, reason="Dispute", subject=subject)

    counts = processing_stop(
        organisation=org, subject_ids=[subject.pk], purpose_keys=["newsletter"], reason="objection"
    )

    assert (counts["erased"], counts["held"]) == (0, 1)
    letter = Record.objects.get(subject=subject, purpose__key="newsletter")
    assert letter.restriction_ground == "legal_hold"


def _rectification(org, deliver, staff, corrections) -> object:
    request = verified_request(
        org,
        kind="rectification",
        email=EMAIL,
        language="en",
        details={"corrections": [{"wrong": w, "correct": c} for w, c, _target in corrections]},
    )
    for index, (_w, _c, target) in enumerate(corrections):
        ff.correction_decide(
            request=request, actor=staff["handler"], index=index, accepted=True, target=target
        )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    return request


def test_a_correction_into_a_held_record_is_recorded_but_not_applied(org, staff, deliver):
    subject = customer(org, email=EMAIL)
    name = Record.objects.get(subject=subject, external_id="anna-name-1")
    order = Record.objects.get(subject=subject, external_id="anna-order-1")
    hold_place(organisation=org, reason="Dispute", category=name.category)

    request = _rectification(
        org,
        deliver,
        staff,
        [
            ("Anna Andersson", "Anna Andersén", f"{name.pk}:name"),
            ("1001", "1002", f"{order.pk}:order_number"),
        ],
    )

    name.refresh_from_db()
    order.refresh_from_db()
    assert name.data["name"] == "Anna Andersson"  # held: unchanged
    assert order.data["order_number"] == "1002"  # not held: corrected
    held, applied = CorrectionDecision.objects.filter(request=request).order_by("index")
    assert (held.withheld, held.applied_at) == ("legal_hold", None)
    assert (applied.withheld, applied.applied_at is not None) == ("", True)
    body = reply_to_person()
    assert "recorded but not made" in body and "legal hold" in body
    assert "“1001” → “1002”" in body.split("Corrections we have made:")[1]
    # The mailer got name-1, which did not change: no rectification notice for it.
    assert not RecipientNotification.objects.filter(request=request).exists()


def test_a_correction_into_an_art18_restricted_record_waits_for_the_restriction(
    org, staff, deliver
):
    subject = customer(org, email=EMAIL)
    restriction = verified_request(
        org,
        kind="restriction",
        email=EMAIL,
        language="en",
        details={"ground": "a", "categories": ["contact"]},
    )
    with deliver():
        svc.request_approve(request=restriction, actor=staff["approver"])
    name = Record.objects.get(subject=subject, external_id="anna-name-1")
    order = Record.objects.get(subject=subject, external_id="anna-order-1")
    assert name.restriction_ground == "art18_a" and order.restricted_at is None
    mail.outbox.clear()

    request = _rectification(
        org,
        deliver,
        staff,
        [
            ("Anna Andersson", "Anna Andersén", f"{name.pk}:name"),
            ("1001", "1002", f"{order.pk}:order_number"),
        ],
    )

    name.refresh_from_db()
    order.refresh_from_db()
    assert name.data["name"] == "Anna Andersson"
    assert (name.restricted_at is not None, name.restriction_ground) == (True, "art18_a")
    assert order.data["order_number"] == "1002"
    restricted = CorrectionDecision.objects.get(request=request, index=0)
    assert (restricted.withheld, restricted.applied_at) == ("restricted", None)
    body = reply_to_person()
    assert "because the data is restricted (Art. 18 GDPR)" in body
    assert "before the restriction is lifted" in body
