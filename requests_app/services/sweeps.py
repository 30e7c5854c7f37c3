"""A sweep staff start from the retention page: requested through the outbox, never lost.

`sweep_request` logs the request and writes an outbox message in one
transaction; the task `requests_app.tasks.sweep_requested` claims the message
and starts the sweep (`retention.tasks.sweep_begin`, which fans its chunks out
over the workers), recording the message as done in the same transaction. While
Redis is unreachable the message waits in the database and the relay publishes
it later; a message published twice starts one sweep.
"""

from __future__ import annotations

from django.db import transaction

from requests_app.models import OutboxMessage
from requests_app.permissions import Action, permission_require
from requests_app.services.outbox import outbox_enqueue, outbox_message_claim, outbox_message_done
from retention import tasks as retention_tasks
from retention.audit import log_action
from retention.models import AuditEntry, Organisation, SweepRun

SWEEP_TASK = "requests_app.tasks.sweep_requested"


def sweep_request(*, organisation: Organisation, user) -> OutboxMessage:
    """Queue a sweep of the organisation (approvers): one audit entry and one outbox message."""
    permission_require(user=user, action=Action.START_SWEEP, organisation_id=organisation.pk)
    with transaction.atomic():
        log_action(
            action="retention.sweep.requested",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=user.pk,
            organisation=organisation,
            object_type="organisation",
            object_id=organisation.pk,
        )
        return outbox_enqueue(
            task_name=SWEEP_TASK,
            payload={"organisation_id": organisation.pk, "user_id": user.pk},
        )


def sweep_requested_start(
    *, organisation_id: int, user_id: int | None, outbox_message_id: int | None
) -> int | None:
    """Start the sweep a message asks for, once; the run's id (None when there was nothing to do).

    The chunks go to the workers after the commit: the run and the message's
    completion are stored first, so a repeat of the message starts nothing.
    """
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return None
        organisation = Organisation.objects.filter(pk=organisation_id).first()
        if organisation is None:  # deleted meanwhile: nothing to sweep
            outbox_message_done(message)
            return None
        run_id = retention_tasks.sweep_begin(
            organisation=organisation, trigger=SweepRun.Trigger.STAFF, user_id=user_id
        )
        outbox_message_done(message)
    return run_id
