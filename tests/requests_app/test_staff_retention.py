"""The retention pages: what will expire, legal holds (approver, re-authenticated), sweeps."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.urls import reverse
from django.utils import timezone

from portal.celery import app as celery_app
from requests_app.models import OutboxMessage
from requests_app.services.outbox import outbox_relay
from requests_app.services.sweeps import SWEEP_TASK
from retention.models import AuditEntry, LegalHold, Record, SweepRun
from tests.requests_app.helpers import make_request, make_subject_with_records

from .conftest import run_queued_tasks


def _expiring(org):
    request = make_request(org)
    subject = make_subject_with_records(request, records=4)
    now = timezone.now()
    ids = list(Record.objects.filter(subject=subject).order_by("id").values_list("id", flat=True))
    rule = org.retention_rules.order_by("key").first()
    for record_id, days in zip(ids, [0.01, 3, 20, 90], strict=True):
        Record.objects.filter(pk=record_id).update(
            expires_at=now + dt.timedelta(days=days), rule=rule
        )
    return subject, ids, rule


def test_the_forecast_counts_per_rule_with_record_ids_as_examples(org, staff, staff_client):
    subject, ids, rule = _expiring(org)
    response = staff_client(staff["viewer"]).get(
        reverse("staff:retention", kwargs={"org_slug": org.slug})
    )
    (forecast,) = response.context["forecast"]
    assert forecast.rule_key == rule.key
    assert forecast.week == 2 and forecast.month == 3
    assert forecast.tonight in (0, 1)  # depends on the time of day
    assert [i for i, _cat in forecast.examples] == ids[:3]
    assert "Anna" not in response.content.decode()
    # A hold takes the subject's records out of the forecast.
    LegalHold.objects.create(organisation=org, subject=subject, reason="dispute")
    response = staff_client(staff["viewer"]).get(
        reverse("staff:retention", kwargs={"org_slug": org.slug})
    )
    assert response.context["forecast"] == []


def test_an_approver_places_and_lifts_a_hold(org, staff, staff_client):
    client = staff_client(staff["approver"])
    url = reverse("staff:hold_place", kwargs={"org_slug": org.slug})
    assert client.post(url, {"reason": "Tax audit 2025"}).status_code == 302
    hold = LegalHold.objects.get()
    assert hold.set_by == staff["approver"]
    stale = staff_client(staff["approver"], reauth_age=3600)
    lift = reverse("staff:hold_lift", kwargs={"org_slug": org.slug, "hold_id": hold.pk})
    response = stale.post(lift)
    assert response["Location"].startswith(reverse("staff:reauth"))
    hold.refresh_from_db()
    assert hold.lifted_at is None
    client.post(lift)
    hold.refresh_from_db()
    assert hold.lifted_by == staff["approver"]


def _expired_record(org) -> int:
    """One record of a subject past its retention end: the next sweep removes it."""
    subject = make_subject_with_records(make_request(org), records=1)
    record = Record.objects.get(subject=subject)
    Record.objects.filter(pk=record.pk).update(
        expires_at=timezone.now() - dt.timedelta(days=1),
        rule=org.retention_rules.get(key="customer"),  # action: delete
    )
    return record.pk


def test_starting_a_sweep_runs_it_once_through_the_outbox(org, staff, staff_client, deliver):
    record_id = _expired_record(org)
    client = staff_client(staff["approver"])
    with deliver():
        response = client.post(reverse("staff:sweep_start", kwargs={"org_slug": org.slug}))
    assert response.status_code == 302
    run = SweepRun.objects.get()
    assert run.trigger == "staff" and run.triggered_by == staff["approver"]
    assert run.status == SweepRun.Status.COMPLETED
    assert not Record.objects.filter(pk=record_id).exists()
    assert AuditEntry.objects.filter(action="retention.sweep.requested").count() == 1
    message = OutboxMessage.objects.get(task_name=SWEEP_TASK)
    assert message.completed_at is not None

    # The same message delivered again (Redis or the relay repeated it) starts nothing.
    celery_app.tasks[SWEEP_TASK].run(**message.payload, message_id=message.pk)
    assert SweepRun.objects.count() == 1


def test_a_sweep_requested_while_redis_is_down_is_not_lost(
    org, staff, staff_client, private_redis, django_capture_on_commit_callbacks
):
    record_id = _expired_record(org)
    private_redis.stop()
    client = staff_client(staff["approver"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("staff:sweep_start", kwargs={"org_slug": org.slug}))
    assert response.status_code == 302
    message = OutboxMessage.objects.get(task_name=SWEEP_TASK)
    assert message.dispatched_at is None and message.attempts == 1
    assert not SweepRun.objects.exists()

    private_redis.start()
    with time_machine.travel(dt.timedelta(minutes=1)):
        assert outbox_relay() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert run_queued_tasks(private_redis.url) == [SWEEP_TASK]
    assert set(run_queued_tasks(private_redis.url)) == {"retention.tasks.sweep_chunk"}
    run = SweepRun.objects.get()
    assert run.status == SweepRun.Status.COMPLETED and run.triggered_by == staff["approver"]
    assert not Record.objects.filter(pk=record_id).exists()


def test_sweep_history_and_progress(org, staff, staff_client):
    SweepRun.objects.create(
        organisation=org, trigger="staff", cutoff=timezone.now(), expected=10, processed=4
    )
    response = staff_client(staff["viewer"]).get(
        reverse("staff:retention", kwargs={"org_slug": org.slug})
    )
    assert "4 / 10" in response.content.decode()


def test_the_page_shows_the_policy_gaps_with_file_and_line(org, staff, staff_client):
    """`check_policies` warnings: where the policy is silent, staff see it (no answer invented)."""
    client = staff_client(staff["viewer"])
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    response = client.get(reverse("staff:retention", kwargs={"org_slug": org.slug}))
    html = response.content.decode()
    assert "Policy gaps" in html
    (gap,) = response.context["policy_gaps"]
    assert gap.file == "testorg.yaml" and gap.line == 2
    assert "does not state the financial year" in gap.message
    assert "<code>testorg.yaml:2</code>" in html


def test_the_page_tells_staff_to_fix_the_policy_when_a_sweep_met_a_policy_error(
    org, staff, staff_client
):
    SweepRun.objects.create(
        organisation=org,
        trigger=SweepRun.Trigger.SCHEDULE,
        status=SweepRun.Status.COMPLETED,
        cutoff=timezone.now(),
        finished_at=timezone.now(),
        errors=[
            {
                "code": "no_keep_until",
                "rule": "customer",
                "overriding_rule": "bookkeeping",
                "records": 2,
                "record_ids": [7001, 7002],
            }
        ],
    )
    client = staff_client(staff["viewer"])
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = client.get(reverse("staff:retention", kwargs={"org_slug": org.slug})).content.decode()
    assert "Policy errors" in html
    assert "Fix the policy file" in html
    assert (
        "Last sweep: 2 records of rule customer could not be reduced: rule bookkeeping gives "
        "no end date." in html
    )
    assert "7001, 7002" in html
