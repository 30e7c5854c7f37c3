"""Reads for triage on the queue page: counts per status, whom to assign to, saved filters.

Each is one query whatever the number of requests or staff.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet

from requests_app.deadlines import local_today
from requests_app.models import OPEN_STATUSES, SavedQueueFilter
from requests_app.permissions import QUEUE_STATUSES, ROLE_RANK, Action, organisations_where
from requests_app.selectors.queue import queue_filtered


def queue_status_counts(**filters) -> dict[str, int]:
    """{status: requests} under every filter but the status one, and "open" and "all":
    one grouped COUNT query. Takes `queue_requests`' arguments but status and sort."""
    filters.setdefault("today", local_today())
    rows = (
        queue_filtered(**filters)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    counts = dict.fromkeys(QUEUE_STATUSES, 0) | dict(rows)
    counts["open"] = sum(counts[s] for s in OPEN_STATUSES)
    counts["all"] = sum(counts[s] for s in QUEUE_STATUSES)
    return counts


def queue_assignees(*, user) -> QuerySet:
    """Who the user may bulk-assign to: handlers (or above) of the organisations where the
    user is an approver or admin (one query)."""
    ranks = [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK["handler"]]
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__organisation_id__in=organisations_where(user, Action.BULK_ASSIGN),
            memberships__role__in=ranks,
        )
        .distinct()
        .order_by("username")
    )


def saved_filters(*, user) -> list[SavedQueueFilter]:
    return list(SavedQueueFilter.objects.filter(user=user).order_by("name", "id"))
