"""The portal's own storage limitation: a closed request becomes statistics after its period.

Art. 5(1)(e): personal data is "kept in a form which permits identification of data
subjects for no longer than is necessary"; Art. 5(2): the controller "shall be able to
demonstrate compliance", which needs the request for a while after it closed (Art. 12).
`organisation.request_retention` in the policy file, default three years after closure.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from requests_app.models import (
    ClockPause,
    CorrectionDecision,
    DataPackage,
    Fulfilment,
    IdentityCheck,
    InformationRequest,
    InternalNote,
    ObjectionDecision,
    RecipientNotification,
    RequestEvent,
    RequestResolution,
    RequestStatus,
    RequestSubjectMatch,
    RestrictionLift,
    StatusToken,
    SubjectRequest,
    VerificationCode,
)
from requests_app.selectors import queue as sel
from requests_app.selectors.request_retention import request_retention_overview
from requests_app.services import staff as svc
from requests_app.services.anonymisation import requests_anonymise_expired
from requests_app.services.requests import request_submit
from requests_app.services.tokens import status_token_issue
from retention.models import AuditEntry, Record
from retention.services.policies import policies_load
from retention.services.sweeps import sweep_run_inline
from tests.requests_app.conftest import POLICIES
from tests.requests_app.helpers import make_request, make_subject_with_records, signed_in

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PERSONAL = {
    "full_name": "Anna Andersson",
    "email": "anna@example.org",
    "phone": "+46701234567",
    "personnummer": "198112189876",
    "customer_number": "K-4711",
}
SECRETS = [
    "Anna Andersson",
    "Anna Svensén",
    "Anna har",
    "Anna vann",
    "anna@example.org",
    "+46701234567",
    "198112189876",
    "K-4711",
    "Storgatan",
    "070-99",
    "BankID-sigill",
    "Vilket konto",
    "Konto 123",
    "Många system",
    "Hej Anna",
]


def at(*args):
    return time_machine.travel(dt.datetime(*args, tzinfo=STOCKHOLM), tick=False)


def _verified(request: SubjectRequest, when: dt.datetime) -> None:
    SubjectRequest.objects.filter(pk=request.pk).update(status="new", verified_at=when)
    request.refresh_from_db()


def closed_request(org, staff, *, closed=(2026, 3, 10, 10, 0), email="anna@example.org"):
    """A request with every kind of personal data the portal stores, refused on `closed`.

    Filed on 1 March 2026 with the person's details and free text, matched to a subject,
    with a code and a link token, a staff note, an identity check, a question and answer,
    an extension, and a refusal reply that names the person.
    """
    with at(2026, 3, 1, 9, 0):
        request = request_submit(
            organisation=org,
            kind="objection",
            language="sv",
            details={
                "direct_marketing": True,
                "purposes": ["analytics"],
                "grounds": "Jag bor på Storgatan 1 och vill inte analyseras.",
                "message": "Ring mig på 070-99 99 99.",
            },
            **{**PERSONAL, "email": email},
        )
        _verified(request, timezone.now())
        make_subject_with_records(request, records=1)
        VerificationCode.objects.create(
            request=request,
            code_hmac="0" * 64,
            created_at=timezone.now(),
            expires_at=timezone.now(),
        )
        status_token_issue(request=request, kind="link")
    with at(2026, 3, 2, 9, 0):
        svc.request_note_add(request=request, actor=staff["handler"], body="Ringde 070-99 99 99.")
        svc.request_identity_confirm(
            request=request,
            actor=staff["handler"],
            method="other",
            note="BankID-sigill visat.",
            match_id=request.matches.get().pk,
        )
        svc.request_information_ask(
            request=request, actor=staff["handler"], question="Vilket konto gäller det?"
        )
    with at(2026, 3, 3, 9, 0):
        svc.request_information_answer(request=request, answer="Konto 123.")
        svc.request_deadline_extend(
            request=request, actor=staff["approver"], months=1, reason="Många system att söka i."
        )
    with at(*closed):
        svc.request_refuse(
            request=request,
            actor=staff["approver"],
            reasons=["unfounded_or_excessive"],
            text="Hej Anna, vi avslår din begäran.",
        )
    request.refresh_from_db()
    return request


def _fulfilment_rows(org, request) -> None:
    """Rows of carrying out a request that hold text or pointers to the person's records."""
    now = timezone.now()
    record = Record.objects.filter(organisation=org).first()
    Fulfilment.objects.create(
        request=request, outcome={"honoured_subject_ids": [record.subject_id]}
    )
    CorrectionDecision.objects.create(
        request=request,
        index=0,
        accepted=True,
        record=record,
        field="name",
        value="Anna Svensén",
        reason="Hej Anna",
        decided_at=now,
    )
    ObjectionDecision.objects.create(
        request=request,
        purpose=org.purposes.get(key="analytics"),
        compelling_grounds=True,
        reason="Anna har en tvist med oss.",
        decided_at=now,
    )
    RecipientNotification.objects.create(
        request=request,
        recipient=org.recipients.first(),
        change="erasure",
        disclosure_ids=[1, 2],
        created_at=now,
    )
    RestrictionLift.objects.create(
        request=request, reason="Anna vann tvisten.", requested_at=now, records=1
    )


def anonymise(org, *args, **kwargs) -> int:
    with at(*args):
        return requests_anonymise_expired(organisation=org, **kwargs)


def _everything_about(request: SubjectRequest) -> str:
    """Every stored value that hangs off the request, as one text."""
    pk = request.pk
    parts = [
        SubjectRequest.objects.filter(pk=pk).values().first(),
        list(InternalNote.objects.filter(request_id=pk).values()),
        list(InformationRequest.objects.filter(request_id=pk).values()),
        list(IdentityCheck.objects.filter(request_id=pk).values()),
        list(RequestResolution.objects.filter(request_id=pk).values()),
        list(ClockPause.objects.filter(request_id=pk).values()),
        list(Fulfilment.objects.filter(request_id=pk).values()),
        list(CorrectionDecision.objects.filter(request_id=pk).values()),
        list(ObjectionDecision.objects.filter(request_id=pk).values()),
        list(RecipientNotification.objects.filter(request_id=pk).values()),
        list(RestrictionLift.objects.filter(request_id=pk).values()),
        list(DataPackage.objects.filter(request_id=pk).values()),
        list(RequestEvent.objects.filter(request_id=pk).values()),
    ]
    return json.dumps(parts, default=str, ensure_ascii=False)


# --- The day boundary --------------------------------------------------------------------------


def test_a_closed_request_is_kept_on_the_last_day_and_anonymised_the_day_after(org, staff):
    """Art. 5(1)(e) and 5(2), with the default of three years after closure: refused on 10
    March 2026, the request is whole through 10 March 2029 and anonymised by the first run
    on 11 March 2029 (the organisation's local date)."""
    request = closed_request(org, staff)
    assert anonymise(org, 2029, 3, 10, 23, 59) == 0
    request.refresh_from_db()
    assert request.anonymised_at is None and request.full_name == "Anna Andersson"

    assert anonymise(org, 2029, 3, 11, 0, 1) == 1
    request.refresh_from_db()
    assert request.anonymised_at == dt.datetime(2029, 3, 11, 0, 1, tzinfo=STOCKHOLM)


def test_a_period_in_the_policy_file_is_used(org, staff, tmp_path):
    """`request_retention: {months: 6}`: refused on 31 August 2026, kept through 28 February
    2027 (six months on; February has no 31st) and anonymised on 1 March 2027."""
    text = (
        (POLICIES / "testorg.yaml")
        .read_text()
        .replace(
            "  time_zone: Europe/Stockholm\n",
            "  time_zone: Europe/Stockholm\n  request_retention: {months: 6}\n",
        )
    )
    (tmp_path / "testorg.yaml").write_text(text)
    policies_load(paths=[tmp_path / "testorg.yaml"])
    org.refresh_from_db()
    request = closed_request(org, staff, closed=(2026, 8, 31, 15, 0))
    assert anonymise(org, 2027, 2, 28, 23, 0) == 0
    assert anonymise(org, 2027, 3, 1, 0, 30) == 1
    request.refresh_from_db()
    assert request.anonymised_at is not None


def test_an_open_request_is_never_anonymised_however_old(org, staff):
    """Art. 5(2), Art. 12: a request still being handled keeps everything it needs."""
    old = dt.datetime(2015, 1, 5, 9, 0, tzinfo=STOCKHOLM)
    open_ones = [
        make_request(org, status=status, received_at=old)
        for status in ("new", "in_progress", "awaiting_subject", "approved", "fulfilling")
    ]
    assert anonymise(org, 2029, 1, 1, 3, 0) == 0
    for request in open_ones:
        request.refresh_from_db()
        assert request.anonymised_at is None and request.email == "anna@example.org"


# --- What goes and what stays ----------------------------------------------------------------


def test_anonymisation_removes_every_personal_detail_and_keeps_the_statistics(org, staff, settings):
    request = closed_request(org, staff)
    _fulfilment_rows(org, request)
    before = SubjectRequest.objects.filter(pk=request.pk).values().first()
    resolution_before = RequestResolution.objects.filter(request=request).values().first()
    stored = _everything_about(request)
    assert all(secret in stored for secret in SECRETS)
    audit_before = AuditEntry.objects.filter(object_id=str(request.pk)).count()

    assert anonymise(org, 2029, 3, 11, 3, 0) == 1

    stored = _everything_about(request)
    assert [secret for secret in SECRETS if secret in stored] == []
    after = SubjectRequest.objects.filter(pk=request.pk).values().first()
    for kept in (
        "reference",
        "kind",
        "status",
        "language",
        "received_at",
        "verified_at",
        "original_due_date",
        "extended_due_date",
        "due_date",
        "extended_at",
        "match_method",
        "assignee_id",
    ):
        assert after[kept] == before[kept], kept
    assert after["details"] == {} and after["extension_reason"] == ""
    resolution_after = RequestResolution.objects.filter(request=request).values().first()
    for kept in ("outcome", "reasons", "decided_at", "on_time", "decided_by_id"):
        assert resolution_after[kept] == resolution_before[kept], kept
    assert resolution_after["reasons"] == ["unfounded_or_excessive"]
    for model in (RequestSubjectMatch, VerificationCode, StatusToken, InternalNote):
        assert not model.objects.filter(request=request).exists(), model.__name__
    assert CorrectionDecision.objects.get(request=request).record_id is None
    assert RecipientNotification.objects.get(request=request).disclosure_ids == []
    # The audit trail stays whole: every entry about the request is still there.
    assert AuditEntry.objects.filter(object_id=str(request.pk)).count() == audit_before
    # The person's data in the record store is not the portal's to delete here.
    assert Record.objects.filter(organisation=org).count() == 1


def test_the_package_file_goes_too(org, staff, settings, tmp_path):
    settings.PACKAGE_DIR = tmp_path
    request = closed_request(org, staff)
    (tmp_path / "f00d.dsrpkg").write_bytes(b"encrypted")
    DataPackage.objects.create(
        request=request,
        kind="access",
        format="zip",
        state="released",
        file_name="f00d.dsrpkg",
        sha256="ab" * 32,
        contents={"categories": [{"key": "contact", "records": 3}]},
        created_at=timezone.now(),
    )
    anonymise(org, 2029, 3, 11, 3, 0)
    assert not (tmp_path / "f00d.dsrpkg").exists()
    package = DataPackage.objects.get(request=request)
    assert (package.state, package.file_name, package.contents) == ("expired", "", {})
    assert package.expired_at is not None


def test_a_joined_request_goes_with_the_request_it_was_joined_to(org, staff):
    """A request joined to an earlier one closes when that one closes."""
    earlier = closed_request(org, staff)
    with at(2026, 3, 5, 9, 0):
        joined = make_request(org, status=RequestStatus.LINKED, full_name="Anna Andersson")
        SubjectRequest.objects.filter(pk=joined.pk).update(linked_to=earlier)
    assert anonymise(org, 2029, 3, 10, 12, 0) == 0
    assert anonymise(org, 2029, 3, 11, 0, 1) == 2
    joined.refresh_from_db()
    assert joined.full_name == "" and joined.anonymised_at is not None
    assert joined.linked_to_id == earlier.pk


def test_another_organisations_requests_are_left_alone(org, other_org, staff):
    ours = closed_request(org, staff)
    theirs = make_request(other_org, status=RequestStatus.COMPLETED)
    RequestResolution.objects.create(
        request=theirs,
        outcome="completed",
        decided_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        on_time=True,
    )
    assert anonymise(org, 2029, 3, 11, 3, 0) == 1
    theirs.refresh_from_db()
    assert theirs.anonymised_at is None and theirs.email == "anna@example.org"
    ours.refresh_from_db()
    assert ours.anonymised_at is not None


def test_it_runs_once_and_is_audited_with_counts_only(org, staff):
    request = closed_request(org, staff)
    assert anonymise(org, 2029, 3, 11, 3, 0) == 1
    assert anonymise(org, 2029, 3, 12, 3, 0) == 0
    (entry,) = AuditEntry.objects.filter(action="requests.retention.anonymised")
    assert entry.object_type == "organisation" and entry.object_id == str(org.pk)
    assert entry.data == {
        "requests": 1,
        "closed_before": "2026-03-11T00:00:00+01:00",
        "period": {"years": 3},
    }
    assert request.reference not in json.dumps(entry.data)


def test_the_work_per_batch_does_not_grow_with_the_requests(org, staff):
    """Set-based: a fixed number of statements whether 3 or 30 requests are anonymised."""

    def closed_many(n: int) -> None:
        for _ in range(n):
            request = make_request(org, status=RequestStatus.REFUSED)
            make_subject_with_records(request, records=1)
            InternalNote.objects.create(request=request, body="Anna", created_at=timezone.now())
            RequestResolution.objects.create(
                request=request,
                outcome="refused",
                text="Hej Anna",
                decided_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                on_time=True,
            )

    counts = []
    for n in (3, 30):
        closed_many(n)
        with CaptureQueriesContext(connection) as queries:
            assert requests_anonymise_expired(organisation=org) == n
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_an_anonymised_request_sends_no_e_mail(org, staff, mailoutbox):
    from requests_app.services.emails import email_send

    request = closed_request(org, staff)
    anonymise(org, 2029, 3, 11, 3, 0)
    request.refresh_from_db()
    sent = len(mailoutbox)
    email_send(request=request, template="request_refused")
    assert len(mailoutbox) == sent


# --- The register, the reports and the pages still work --------------------------------------


def test_the_register_and_the_dashboard_count_anonymised_requests_as_before(org, staff):
    """Art. 5(2): the register of requests outlives the personal data in them."""
    closed_request(org, staff)
    make_request(org, status=RequestStatus.IN_PROGRESS)
    start, end = dt.date(2026, 1, 1), dt.date(2029, 12, 31)
    with at(2029, 3, 11, 3, 0):
        rows_before = list(sel.register_rows(organisation=org, start=start, end=end))
        report_before = sel.organisation_report(organisation=org, start=start, end=end)
    assert anonymise(org, 2029, 3, 11, 3, 0) == 1
    with at(2029, 3, 11, 4, 0):
        assert list(sel.register_rows(organisation=org, start=start, end=end)) == rows_before
        assert sel.organisation_report(organisation=org, start=start, end=end) == report_before
    assert report_before.closed == 1 and report_before.open_total == 1


def test_the_staff_page_of_an_anonymised_request_shows_what_remains(org, staff):
    request = closed_request(org, staff)
    anonymise(org, 2029, 3, 11, 3, 0)
    from django.test import Client

    with at(2029, 3, 12, 9, 0):
        page = signed_in(Client(), staff["viewer"]).get(f"/staff/requests/{request.reference}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="anonymised"' in html and "Anonymiserad 2029-03-11" in html
    assert request.reference in html
    assert not [secret for secret in SECRETS if secret in html]


def test_the_retention_page_shows_the_period_and_what_the_next_30_days_anonymise(org, staff):
    """Closed on 10 March 2026: within 30 days of 20 February 2029 its period ends."""
    closed_request(org, staff)
    from django.test import Client

    with at(2029, 2, 8, 9, 0):
        overview = request_retention_overview(organisation=org)
        assert (overview.period, overview.due_within_30_days) == ("3 år", 0)
    with at(2029, 2, 20, 9, 0):
        page = (
            signed_in(Client(), staff["viewer"])
            .get(f"/staff/org/{org.slug}/retention/")
            .content.decode()
        )
    assert "En avslutad begäran sparas i 3 år efter att den avslutades" in page
    assert "Anonymiseras av gallringarna de närmaste 30 dagarna</dt><dd>1</dd>" in page
    assert "Anonymiserade hittills</dt><dd>0</dd>" in page


# --- The nightly sweep runs it -----------------------------------------------------------------


def test_the_nightly_sweep_anonymises_and_a_dry_run_does_not(org, staff):
    request = closed_request(org, staff)
    with at(2029, 3, 11, 2, 30):
        sweep_run_inline(organisation=org, dry_run=True)
    request.refresh_from_db()
    assert request.anonymised_at is None
    with at(2029, 3, 11, 2, 30):
        run = sweep_run_inline(organisation=org)
    assert run.status == "completed"
    request.refresh_from_db()
    assert request.anonymised_at == dt.datetime(2029, 3, 11, 2, 30, tzinfo=STOCKHOLM)


def test_a_failing_anonymisation_leaves_the_sweep_completed(org, staff, monkeypatch, caplog):
    from requests_app.services import anonymisation

    def broken(**kwargs):
        raise RuntimeError("anna@example.org")  # a message that must not reach the log

    monkeypatch.setattr(anonymisation, "requests_anonymise_expired", broken)
    closed_request(org, staff)
    with at(2029, 3, 11, 2, 30):
        run = sweep_run_inline(organisation=org)
    assert run.status == "completed"
    assert "RuntimeError" in caplog.text and "anna@example.org" not in caplog.text


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_running_the_nightly_sweep_anonymises_expired_requests(
    organisations, private_redis, worker
):
    """The beat task of the nightly sweep (`retention.tasks.sweep_organisation`) on a real
    worker: a request refused four years ago is anonymised, one refused last month is not."""
    import time

    from retention.tasks import sweep_organisation

    org = organisations["framsteget"]
    now = timezone.now()
    old, recent = (
        make_request(org, status=RequestStatus.REFUSED, received_at=now - dt.timedelta(days=d))
        for d in (4 * 366, 40)
    )
    for request, days in ((old, 4 * 365), (recent, 30)):
        RequestResolution.objects.create(
            request=request,
            outcome="refused",
            text="Hej Anna",
            decided_at=now - dt.timedelta(days=days),
            on_time=True,
        )
    sweep_organisation.delay(org.pk)
    deadline = time.monotonic() + 60
    while SubjectRequest.objects.get(pk=old.pk).anonymised_at is None:
        assert time.monotonic() < deadline, "the sweep did not anonymise the old request"
        time.sleep(0.2)
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.full_name == "" and old.resolution.text == ""
    assert recent.anonymised_at is None and recent.full_name == "Anna Andersson"
