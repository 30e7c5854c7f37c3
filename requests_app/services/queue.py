"""Triage from the queue page: assigning many requests at once, and saved filters.

Bulk assignment is one transaction: every request is checked and locked first,
then all are assigned, or none is (a refusal names what is wrong and changes
nothing). It is for approvers and admins (`Action.BULK_ASSIGN`), only in their
organisations, and only to handlers (or above) of each request's organisation;
each request gets the same audit entry as a single assignment.

A saved filter keeps the queue's filter parameters of one staff member, under a
name they choose; nobody else may use or delete it.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404, QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from requests_app.models import RequestEvent, RequestStatus, SavedQueueFilter, SubjectRequest
from requests_app.permissions import (
    QUEUE_STATUSES,
    Action,
    permission_require,
    staff_roles,
    user_can,
)
from requests_app.services.staff import ASSIGNABLE
from requests_app.services.workflow import StaffActionError
from retention.audit import log_action
from retention.models import AuditEntry

# The queue page's filter parameters: what a saved filter and a redirect back may carry.
FILTER_KEYS = (
    "organisation",
    "kind",
    "status",
    "assignee",
    "due_within",
    "overdue",
    "awaiting",
    "q",
    "sort",
)
MAX_BULK = 200
MAX_SAVED_FILTERS = 30


def filter_query_clean(query: str | QueryDict) -> str:
    """The filter part of a queue query string: known keys, one non-empty value each."""
    params = query if isinstance(query, QueryDict) else QueryDict(query or "")
    kept = QueryDict(mutable=True)
    for key in FILTER_KEYS:
        value = (params.get(key) or "").strip()[:200]
        if value:
            kept[key] = value
    return kept.urlencode()[:500]


# --- Bulk assignment ------------------------------------------------------------------


def _ids(request_ids) -> list[int]:
    ids = set()
    for value in request_ids or []:
        try:
            ids.add(int(value))
        except (TypeError, ValueError):
            raise StaffActionError(_("Choose requests from the queue."), code="bad_id") from None
    if not ids:
        raise StaffActionError(_("Choose at least one request."), code="none_chosen")
    if len(ids) > MAX_BULK:
        raise StaffActionError(
            _("Choose at most %(n)d requests at a time.") % {"n": MAX_BULK}, code="too_many"
        )
    return sorted(ids)


def requests_bulk_assign(*, actor, request_ids, assignee) -> list[SubjectRequest]:
    """Assign every chosen request to `assignee` in one transaction, or none of them.

    404 (as for a single request) if any id is not a request of the actor's
    organisations; 403 where the actor is below approver; `StaffActionError` if
    the assignee is not a handler of a request's organisation or a request's
    state does not allow assignment.
    """
    ids = _ids(request_ids)
    with transaction.atomic():
        # Locked in id order: two bulk assignments at once cannot deadlock.
        rows = list(
            SubjectRequest.objects.select_for_update(of=("self",))
            .select_related("organisation")
            .filter(
                pk__in=ids,
                organisation_id__in=list(staff_roles(actor)),
                status__in=QUEUE_STATUSES,
            )
            .order_by("pk")
        )
        if len(rows) != len(ids):
            raise Http404
        for organisation_id in {r.organisation_id for r in rows}:
            permission_require(
                user=actor, action=Action.BULK_ASSIGN, organisation_id=organisation_id
            )
            if assignee is None or not user_can(assignee, Action.ASSIGN, organisation_id):
                raise StaffActionError(
                    _("Requests can only be assigned to handlers of their organisation."),
                    code="assignee_not_handler",
                )
        closed = [r.reference for r in rows if r.status not in ASSIGNABLE]
        if closed:
            raise StaffActionError(
                _("These requests can no longer be assigned: %(refs)s. Nothing was changed.")
                % {"refs": ", ".join(closed)},
                code="not_assignable",
            )
        _assign_rows(rows, actor=actor, assignee=assignee)
    return rows


def _assign_rows(rows: list[SubjectRequest], *, actor, assignee) -> None:
    """Set-based: one UPDATE for the assignee, one for the new requests that start, one
    INSERT of their status events; then one audit entry per request (a hash chain)."""
    now = timezone.now()
    ids = [r.pk for r in rows]
    starting = [r.pk for r in rows if r.status == RequestStatus.NEW]
    SubjectRequest.objects.filter(pk__in=ids).update(assignee=assignee, updated_at=now)
    if starting:
        SubjectRequest.objects.filter(pk__in=starting).update(status=RequestStatus.IN_PROGRESS)
        RequestEvent.objects.bulk_create(
            RequestEvent(
                request_id=pk,
                kind=RequestEvent.Kind.STATUS,
                created_at=now,
                data={"status": RequestStatus.IN_PROGRESS},
            )
            for pk in starting
        )
    for row in rows:
        row.assignee = assignee
        if row.pk in starting:
            row.status = RequestStatus.IN_PROGRESS
        log_action(
            action="requests.request.assigned",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=actor.pk,
            organisation=row.organisation,
            object_type="subject_request",
            object_id=row.pk,
            data={"assignee_id": assignee.pk, "bulk": True},
        )


# --- Saved filters ----------------------------------------------------------------------


def saved_filter_save(*, user, name: str, query: str) -> SavedQueueFilter:
    """Save the current filter under a name (the same name replaces the earlier one)."""
    name = " ".join((name or "").split())[:60]
    if not name:
        raise StaffActionError(_("Give the filter a name."), code="empty")
    query = filter_query_clean(query)
    existing = SavedQueueFilter.objects.filter(user=user, name=name).first()
    if existing is not None:
        existing.query = query
        existing.save(update_fields=["query"])
        return existing
    if SavedQueueFilter.objects.filter(user=user).count() >= MAX_SAVED_FILTERS:
        raise StaffActionError(
            _("You have %(n)d saved filters; delete one first.") % {"n": MAX_SAVED_FILTERS},
            code="too_many",
        )
    return SavedQueueFilter.objects.create(
        user=user, name=name, query=query, created_at=timezone.now()
    )


def saved_filter_delete(*, user, filter_id: int) -> bool:
    """Delete one of the user's own saved filters; False if they have none with this id."""
    deleted, _rows = SavedQueueFilter.objects.filter(user=user, pk=filter_id).delete()
    return bool(deleted)
