"""A filed request is never lost: the outbox survives a Redis outage."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.core import mail

from requests_app.models import OutboxMessage, RequestStatus, SubjectRequest
from requests_app.services.outbox import outbox_relay
from requests_app.services.verification import verification_check
from requests_app.tasks import relay_outbox

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
