"""A filed request is never lost: the outbox survives a Redis outage, and Redis losing it."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest
import redis
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import requests_app.tasks  # noqa: F401  (registers the tasks, as autodiscovery does)
from portal.celery import app as celery_app
from requests_app.models import (
    DataPackage,
    Fulfilment,
    OutboxMessage,
    RecipientNotification,
    RequestStatus,
    SubjectRequest,
)
from requests_app.services.fulfilment import (
    ERASURE_RUN_TASK,
    HONOUR_TASK,
    LIFT_NOTICE_TASK,
    LIFT_TASK,
    RECIPIENT_TASK,
)
from requests_app.services.outbox import outbox_enqueue, outbox_redeliver, outbox_relay
from requests_app.services.packages import BUILD_TASK, READY_EMAIL_TASK
from requests_app.services.requests import (
    SEND_CONFIRMATION,
    SEND_EXTENSION_NOTICE,
    SEND_VERIFICATION,
    requests_purge_unverified,
)
from requests_app.services.staff import FULFILMENT_TASK
from requests_app.services.staff_digest import deadline_digest_send
from requests_app.services.sweeps import SWEEP_TASK
from requests_app.services.verification import verification_check
from requests_app.services.workflow import NOTIFY_TASK
from requests_app.tasks import relay_outbox
from retention.models import RecordStoreJob
from tests.requests_app.helpers import approved_request, make_request

from .conftest import last_code, run_queued_tasks
from .helpers import submit

BODY = {
    "organisation": "testorg",
    "type": "erasure",
    "email": "anna@example.org",
    "full_name": "Anna Andersson",
    "language": "sv",
    "scope": "all",
}


def test_it_files_a_request_while_redis_is_down_and_sends_the_code_when_it_is_back(
    client, org, private_redis, django_capture_on_commit_callbacks
):
    private_redis.stop()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/requests", BODY, content_type="application/json")

    assert response.status_code == 201, response.json()
    request = SubjectRequest.objects.get(reference=response.json()["reference"])
    message = OutboxMessage.objects.get()
    assert message.dispatched_at is None
    assert message.attempts == 1 and message.last_error
    assert message.payload == {"request_id": request.pk}  # ids only: no code, no address
    assert mail.outbox == []

    private_redis.start()  # the same port as before
    with time_machine.travel(dt.timedelta(minutes=1)):
        assert outbox_relay() == 1
    message.refresh_from_db()
    assert message.dispatched_at is not None

    assert run_queued_tasks(private_redis.url) == ["requests_app.tasks.send_verification_email"]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["anna@example.org"]
    assert verification_check(request=request, code=last_code()).status == RequestStatus.NEW


def test_the_beat_sweep_relays_what_was_never_handed_over(org, private_redis):
    # No on-commit relay ran (the web process died right after the commit).
    request = submit(org)
    assert OutboxMessage.objects.get().dispatched_at is None

    # A message seconds old is still the writing process's to publish ...
    assert relay_outbox() == 0
    # ... after the grace period the sweep takes it over.
    with time_machine.travel(dt.timedelta(seconds=6)):
        assert relay_outbox() == 1

    assert run_queued_tasks(private_redis.url) == ["requests_app.tasks.send_verification_email"]
    assert mail.outbox[0].to == [request.email]
    assert relay_outbox() == 0  # nothing left


def test_the_relay_backs_off_and_does_not_retry_too_early(org, private_redis):
    submit(org)
    private_redis.stop()
    assert outbox_relay() == 0
    private_redis.start()
    assert outbox_relay() == 0  # not due yet
    with time_machine.travel(dt.timedelta(seconds=3)):
        assert outbox_relay() == 1


def test_the_relay_keeps_its_connection_and_survives_a_redis_restart(org, private_redis):
    submit(org)
    assert outbox_relay() == 1
    private_redis.stop()
    private_redis.start()  # same port: the kept connection is now dead

    submit(org, email="bertil@example.org")
    # The dead connection is revived or replaced; the message is not left waiting.
    assert outbox_relay() == 1

    assert run_queued_tasks(private_redis.url) == ["requests_app.tasks.send_verification_email"]
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 0


# --- Published is not done: the relay publishes again what Redis lost ---------------------

AFTER = dt.timedelta(seconds=900)  # OUTBOX_REDELIVER_AFTER's default


def queued(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return client.llen("celery")
    finally:
        client.close()


def lost_in_redis(org, private_redis, count: int = 1) -> list[OutboxMessage]:
    """`count` requests whose verification message reached Redis, which then lost it."""
    for n in range(count):
        submit(org, email=f"person{n}@example.org")
    outbox_relay()  # unless the relay after commit did (outside a test transaction)
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()
    private_redis.stop()  # not persistent: the queue is gone when it comes back
    private_redis.start()
    assert queued(private_redis.url) == 0
    return list(OutboxMessage.objects.order_by("id"))


def test_a_message_redis_lost_is_published_again_after_the_delay_and_its_code_arrives_once(
    org, private_redis, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(org)
    message = OutboxMessage.objects.get()
    assert message.dispatched_at is not None  # handed to Redis after the commit ...
    private_redis.stop()  # ... which restarts without persistence before a worker took it
    private_redis.start()
    assert run_queued_tasks(private_redis.url) == []

    start = message.dispatched_at
    with time_machine.travel(start + AFTER - dt.timedelta(minutes=1), tick=False):
        assert relay_outbox() == 0  # a worker may still be on it
    with time_machine.travel(start + AFTER + dt.timedelta(minutes=1), tick=False):
        assert relay_outbox() == 1
    message.refresh_from_db()
    assert message.redeliveries == 1 and message.completed_at is None

    assert run_queued_tasks(private_redis.url) == ["requests_app.tasks.send_verification_email"]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["anna@example.org"]
    message.refresh_from_db()
    assert message.completed_at is not None

    with time_machine.travel(start + dt.timedelta(days=2), tick=False):
        assert relay_outbox() == 0  # done: never again
    assert queued(private_redis.url) == 0 and len(mail.outbox) == 1
    assert verification_check(request=request, code=last_code()).status == RequestStatus.NEW


def test_a_message_whose_task_finished_is_never_published_again(org, private_redis, deliver):
    with deliver():
        request = submit(org)
    with deliver():
        verification_check(request=request, code=last_code())  # queues the confirmation
    messages = OutboxMessage.objects.order_by("id")
    assert [m.task_name for m in messages] == [
        SEND_VERIFICATION,
        SEND_CONFIRMATION,
    ]
    assert all(m.completed_at is not None for m in messages)
    sent = len(mail.outbox)

    for hours in (1, 5, 24, 24 * 30):
        with time_machine.travel(dt.timedelta(hours=hours), tick=False):
            assert relay_outbox() == 0
    assert queued(private_redis.url) == 0 and len(mail.outbox) == sent


def test_a_message_is_published_again_with_back_off_at_most_the_cap_then_given_up_and_logged(
    org, private_redis, settings, caplog
):
    settings.OUTBOX_REDELIVER_MAX = 2
    [message] = lost_in_redis(org, private_redis)
    start = message.dispatched_at
    caplog.set_level(logging.WARNING, logger="requests_app.services.outbox")

    def at(delay: dt.timedelta) -> int:
        with time_machine.travel(start + delay, tick=False):
            return relay_outbox()

    # No worker ever runs it. The waits: AFTER, then 2 x AFTER, then 4 x AFTER.
    assert at(AFTER + dt.timedelta(seconds=1)) == 1
    second = AFTER + dt.timedelta(seconds=1) + 2 * AFTER
    assert at(second - dt.timedelta(minutes=1)) == 0
    assert at(second + dt.timedelta(seconds=1)) == 1
    message.refresh_from_db()
    assert message.redeliveries == 2 and message.gave_up_at is None
    give_up = second + dt.timedelta(seconds=1) + 4 * AFTER
    assert at(give_up - dt.timedelta(minutes=1)) == 0
    message.refresh_from_db()
    assert message.gave_up_at is None
    assert at(give_up + dt.timedelta(seconds=1)) == 0

    message.refresh_from_db()
    assert message.gave_up_at is not None and message.completed_at is None
    assert message.last_error == "gave up after 2 redeliveries"
    assert queued(private_redis.url) == 2  # the two redeliveries, nothing more
    assert at(dt.timedelta(days=30)) == 0
    message.refresh_from_db()
    assert message.redeliveries == 2

    [gave_up] = [
        r for r in caplog.records if r.name == "requests_app.services.outbox" and r.levelno >= 40
    ]
    assert gave_up.args == (message.pk, SEND_VERIFICATION, 2)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "example.org" not in logged and "Anna" not in logged


def test_the_sweep_makes_the_same_queries_for_one_lost_message_or_many(org, private_redis):
    def sweep_queries(count: int) -> int:
        OutboxMessage.objects.all().delete()
        messages = lost_in_redis(org, private_redis, count)
        # Some were published again before and some are at the cap: all three kinds of row.
        OutboxMessage.objects.filter(pk__in=[m.pk for m in messages[1::3]]).update(redeliveries=1)
        OutboxMessage.objects.filter(pk__in=[m.pk for m in messages[2::3]]).update(redeliveries=5)
        with time_machine.travel(AFTER * 40, tick=False), CaptureQueriesContext(connection) as q:
            published = outbox_redeliver()
        assert published == count - len(messages[2::3])
        return len(q.captured_queries)

    assert sweep_queries(3) == sweep_queries(30)


@pytest.mark.django_db(transaction=True)
def test_the_sweep_skips_a_message_whose_row_is_locked_and_does_not_wait(org, private_redis):
    # A task running the message (or another sweep) holds its row.
    [message] = lost_in_redis(org, private_redis)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                OutboxMessage.objects.select_for_update().get(pk=message.pk)
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with time_machine.travel(message.dispatched_at + AFTER * 2, tick=False):
            assert outbox_redeliver() == 0  # skipped at once: had it waited, it would publish
    finally:
        release.set()
        holder.join()
    with time_machine.travel(message.dispatched_at + AFTER * 2, tick=False):
        assert outbox_redeliver() == 1
        assert outbox_redeliver() == 0
    assert queued(private_redis.url) == 1


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_publish_each_lost_message_once(org, private_redis):
    messages = lost_in_redis(org, private_redis, 12)
    barrier = threading.Barrier(2)
    published = []

    def sweep():
        try:
            barrier.wait(timeout=10)
            published.append(outbox_redeliver(limit=8))
        finally:
            connection.close()

    with time_machine.travel(messages[-1].dispatched_at + AFTER * 2, tick=False):
        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(published) == 12
    assert queued(private_redis.url) == 12
    assert set(OutboxMessage.objects.values_list("redeliveries", flat=True)) == {1}


def test_the_sweep_never_publishes_the_message_of_a_purged_request_again(org, private_redis):
    submit(org)
    assert outbox_relay() == 1
    with time_machine.travel(dt.timedelta(hours=25), tick=False):
        assert requests_purge_unverified() == 1
    with time_machine.travel(dt.timedelta(hours=30), tick=False):
        assert relay_outbox() == 0


# --- Every task records that its message is done, also when there is nothing to do ---------


@pytest.mark.parametrize(
    ("task_name", "payload"),
    [
        (SEND_VERIFICATION, {"request_id": 0}),
        (SEND_CONFIRMATION, {"request_id": 0}),
        (SEND_EXTENSION_NOTICE, {"request_id": 0}),
        (NOTIFY_TASK, {"request_id": 0, "template": "request_completed"}),
        (FULFILMENT_TASK, {"request_id": 0}),
        (BUILD_TASK, {"request_id": 0}),
        (READY_EMAIL_TASK, {"request_id": 0}),
        (HONOUR_TASK, {"request_id": 0}),
        (ERASURE_RUN_TASK, {"job_id": 0}),
        (RECIPIENT_TASK, {"notification_id": 0}),
        (LIFT_NOTICE_TASK, {"request_id": 0}),
        (LIFT_TASK, {"request_id": 0}),
        (SWEEP_TASK, {"organisation_id": 0, "user_id": 0}),
    ],
)
def test_a_task_whose_request_is_gone_records_its_message_as_done(db, task_name, payload):
    now = timezone.now()
    message = OutboxMessage.objects.create(
        task_name=task_name, payload=payload, created_at=now, available_at=now, dispatched_at=now
    )
    celery_app.tasks[task_name].run(**payload, message_id=message.pk)
    message.refresh_from_db()
    assert message.completed_at is not None


def test_an_access_request_s_fulfilment_message_is_done_once_its_package_exists(org):
    request = approved_request(org)
    message = outbox_enqueue(task_name=FULFILMENT_TASK, payload={"request_id": request.pk})
    celery_app.tasks[FULFILMENT_TASK].run(request_id=request.pk, message_id=message.pk)
    message.refresh_from_db()
    assert message.completed_at is not None
    assert DataPackage.objects.get(request=request).state == DataPackage.State.READY


# --- Staff hear of what the relay gave up on ---------------------------------------------


def given_up(task_name: str, payload: dict, *, completed: bool = False) -> OutboxMessage:
    now = timezone.now()
    return OutboxMessage.objects.create(
        task_name=task_name,
        payload=payload,
        created_at=now,
        available_at=now,
        dispatched_at=now,
        redeliveries=5,
        gave_up_at=now,
        last_error="gave up after 5 redeliveries",
        completed_at=now if completed else None,
    )


def test_approvers_digest_lists_the_requests_whose_work_the_relay_gave_up_on(org, staff):
    notice_lost = make_request(org, status=RequestStatus.COMPLETED)
    given_up(NOTIFY_TASK, {"request_id": notice_lost.pk, "template": "request_completed"})
    erasure_lost = make_request(org, status=RequestStatus.FULFILLING)
    job = RecordStoreJob.objects.create(organisation=org, kind="erasure", state="approved")
    Fulfilment.objects.create(request=erasure_lost, job=job)
    given_up(ERASURE_RUN_TASK, {"job_id": job.pk})
    art19_lost = make_request(org, status=RequestStatus.COMPLETED)
    notice = RecipientNotification.objects.create(
        request=art19_lost,
        recipient=org.recipients.get(key="mailer"),
        change="erasure",
        created_at=timezone.now(),
    )
    given_up(RECIPIENT_TASK, {"notification_id": notice.pk})
    done_later = make_request(org)
    given_up(NOTIFY_TASK, {"request_id": done_later.pk, "template": "x"}, completed=True)
    unverified = make_request(org, status=RequestStatus.UNVERIFIED)
    given_up(SEND_VERIFICATION, {"request_id": unverified.pk})

    deadline_digest_send()

    for role in ("approver", "admin"):
        [email] = [m for m in mail.outbox if m.to == [staff[role].email]]
        heading = "Portalen gav upp arbete för dessa efter flera försök"
        assert heading in " ".join(email.body.split())
        for listed in (notice_lost, erasure_lost, art19_lost):
            assert listed.reference in email.body
        assert done_later.reference not in email.body
        assert unverified.reference not in email.body
        assert "anna@example.org" not in email.body and "Anna" not in email.body
    assert not [
        m for m in mail.outbox if m.to in ([staff["handler"].email], [staff["viewer"].email])
    ]
