"""The request's life cycle, shared by every service that moves it: status, close, notify.

The staff actions (`services.staff`), fulfilment (`services.fulfilment`) and
packages (`services.packages`) all change a request's status, close it and
e-mail the person; they do it through these public functions, so none of them
imports another's private helpers. Each is called inside the caller's
transaction, on a row the caller has locked.

A caller that logs the status a request came from reads `request.status`
before it calls `status_set` or `request_close`.
"""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from requests_app import deadlines
from requests_app.models import RequestEvent, RequestResolution, SubjectRequest
from requests_app.services.outbox import outbox_enqueue
from requests_app.services.requests import request_due_date_compute

NOTIFY_TASK = "requests_app.tasks.staff_notify"


def request_locked(request_id: int, *related: str) -> SubjectRequest | None:
    """The request row with its organisation (and `related`), locked for the caller's
    transaction (None: deleted).

    of=self: the organisation row is joined, not locked (a FOR UPDATE on it would block
    every other transaction's foreign-key check on it until our commit, and deadlock with
    the audit chain's lock, which they hold while committing)."""
    return (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organisation", *related)
        .filter(pk=request_id)
        .first()
    )


class StaffActionError(Exception):
    """An action the rules do not allow; `message` is translated and safe to show."""

    code = "not_allowed"

    def __init__(self, message: str, *, code: str | None = None):
        self.message = str(message)
        if code:
            self.code = code
        super().__init__(self.message)


class InvalidTransition(StaffActionError):
    code = "invalid_transition"


def status_require(request: SubjectRequest, allowed, action: str) -> None:
    """Raise `InvalidTransition` (a message staff can read) unless the status is `allowed`."""
    if request.status not in allowed:
        raise InvalidTransition(
            _("This request is “%(status)s”: “%(action)s” is not possible in that state.")
            % {"status": request.get_status_display(), "action": action}
        )


def status_set(*, request: SubjectRequest, status: str, now: dt.datetime) -> None:
    """Move the request to `status` and record the change as an event."""
    request.status = status
    request.save(update_fields=["status", "updated_at"])
    RequestEvent.objects.create(
        request=request, kind=RequestEvent.Kind.STATUS, created_at=now, data={"status": status}
    )


def request_notify(*, request: SubjectRequest, template: str) -> None:
    """E-mail the person (in their language) through the outbox, after commit."""
    outbox_enqueue(task_name=NOTIFY_TASK, payload={"request_id": request.pk, "template": template})


def request_close(
    *,
    request: SubjectRequest,
    actor,
    outcome: str,
    now: dt.datetime,
    reasons: list[str] | None = None,
    text: str = "",
) -> RequestResolution:
    """End an open pause, move to the final state and record the resolution."""
    request.pauses.filter(ended_at__isnull=True).update(ended_at=now)
    today = deadlines.local_date(now, request.organisation.time_zone)
    due = request_due_date_compute(request=request, today=today)
    if due != request.due_date:
        request.due_date = due
        request.save(update_fields=["due_date", "updated_at"])
    status_set(request=request, status=outcome, now=now)
    return RequestResolution.objects.create(
        request=request,
        outcome=outcome,
        reasons=reasons or [],
        text=text,
        decided_by=actor,
        decided_at=now,
        on_time=today <= due,
    )
