"""The staff queue (/staff/): the requests of the user's organisations, for triage.

Filtered, counted per status (each count a quick filter), sorted by any column,
paged; approvers and admins assign many requests at once; each staff member keeps
named filters. Every link keeps the other filters. The page works without
JavaScript; static/js/queue.js only adds j/k row navigation and "select all".
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from requests_app import deadlines
from requests_app.http import action_refused
from requests_app.models import OPEN_STATUSES, RequestStatus, SavedQueueFilter
from requests_app.permissions import Action, organisations_where, staff_organisations
from requests_app.selectors import queue as sel
from requests_app.selectors import triage
from requests_app.services import queue as svc
from requests_app.services.workflow import StaffActionError
from requests_app.staff import forms as f
from requests_app.staff.session import staff_required

PAGE_SIZE = 50
SOON_DAYS = 7

# (sort key, column heading) of the sortable columns, in table order.
COLUMNS = [
    ("due", gettext_lazy("Due")),
    ("reference", gettext_lazy("Reference")),
    ("kind", gettext_lazy("Type")),
    ("status", gettext_lazy("Status")),
    ("assignee", gettext_lazy("Assignee")),
    ("received", gettext_lazy("Received")),
]


def _query(params, **changes) -> str:
    """The query string `params` with `changes` (None removes a key) and no page number."""
    params = params.copy()
    params.pop("page", None)
    for key, value in changes.items():
        params.pop(key, None)
        if value is not None:
            params[key] = value
    return params.urlencode()


def _filters(http_request, organisations):
    """The filter form, and the selector arguments it gives (without status and sort)."""
    form = f.QueueFilterForm(http_request.GET or None, organisations=organisations)
    data = form.cleaned_data if form.is_valid() else {}
    org = {o.slug: o for o in organisations}.get(data.get("organisation") or "")
    filters = {
        "user": http_request.user,
        "organisation_id": org.pk if org else None,
        "kind": data.get("kind") or "",
        "assignee": data.get("assignee") or "",
        "due_within": data.get("due_within"),
        "overdue": bool(data.get("overdue")),
        "awaiting": bool(data.get("awaiting")),
        "q": data.get("q") or "",
        "today": deadlines.local_today(),
    }
    return form, filters, data.get("status") or "open", sel.queue_sort_clean(data.get("sort"))


def _due_badge(r, today) -> None:
    """The row's due badge: overdue (red), due within 7 days (amber), waiting for the
    person (grey, the clock is paused), or none (closed requests, plenty of time)."""
    r.days_left = (r.due_date - today).days
    r.days_overdue = max(0, -r.days_left)
    if r.status not in OPEN_STATUSES:
        r.due_state = ""
    elif r.paused or r.status == RequestStatus.AWAITING_SUBJECT:
        r.due_state = "waiting"
    elif r.days_left < 0:
        r.due_state = "overdue"
    elif r.days_left <= SOON_DAYS:
        r.due_state = "soon"
    else:
        r.due_state = "ok"


def _headers(params, sort: str) -> list[dict]:
    """Each sortable column's link (ascending first, then the other way) and aria-sort."""
    headers = []
    for key, label in COLUMNS:
        current = sort.lstrip("-") == key
        descending = sort.startswith("-")
        headers.append(
            {
                "key": key,
                "label": label,
                "url": "?" + _query(params, sort=f"-{key}" if current and not descending else key),
                "aria_sort": ("descending" if descending else "ascending") if current else "",
            }
        )
    return headers


def _status_tabs(params, status: str, counts: dict[str, int]) -> list[dict]:
    labels = dict(RequestStatus.choices)
    labels[RequestStatus.AWAITING_SUBJECT] = _("Waiting for the person")
    tabs = [("open", _("Open"))] + [(s, labels[s]) for s in OPEN_STATUSES] + [("all", _("All"))]
    return [
        {
            "status": key,
            "label": label,
            "count": counts.get(key, 0),
            "url": "?" + _query(params, status=key),
            "current": key == status,
        }
        for key, label in tabs
    ]


@staff_required
def queue(http_request):
    organisations = list(staff_organisations(http_request.user))
    form, filters, status, sort = _filters(http_request, organisations)
    requests = sel.queue_requests(**filters, status=status, sort=sort)
    page = Paginator(requests, PAGE_SIZE).get_page(http_request.GET.get("page"))
    for r in page.object_list:
        _due_badge(r, filters["today"])
    params = http_request.GET
    can_bulk = bool(organisations_where(http_request.user, Action.BULK_ASSIGN))
    filter_query = svc.filter_query_clean(params)
    return render(
        http_request,
        "requests_app/staff/queue.html",
        {
            "form": form,
            "page": page,
            "params": _query(params),
            "headers": _headers(params, sort),
            "tabs": _status_tabs(params, status, triage.queue_status_counts(**filters)),
            "today": filters["today"],
            "organisations": organisations,
            "saved_filters": triage.saved_filters(user=http_request.user),
            "save_form": f.SavedFilterForm(initial={"query": filter_query}, auto_id="save_%s"),
            "bulk_form": f.BulkAssignForm(
                assignees=triage.queue_assignees(user=http_request.user), auto_id="bulk_%s"
            )
            if can_bulk
            else None,
            "filter_query": filter_query,
        },
    )


def _back(query: str = ""):
    query = svc.filter_query_clean(query)
    return redirect(reverse("staff:queue") + (f"?{query}" if query else ""))


@require_POST
@staff_required
def bulk_assign(http_request):
    """Assign the ticked requests: approvers and admins only; one transaction."""
    user = http_request.user
    if not organisations_where(user, Action.BULK_ASSIGN):
        raise PermissionDenied
    form = f.BulkAssignForm(http_request.POST, assignees=triage.queue_assignees(user=user))
    back = http_request.POST.get("next", "")
    if not form.is_valid():
        messages.error(http_request, _("Choose whom to assign the selected requests to."))
        return _back(back)
    try:
        rows = svc.requests_bulk_assign(
            actor=user,
            request_ids=http_request.POST.getlist("requests"),
            assignee=form.cleaned_data["assignee"],
        )
    except StaffActionError as error:
        action_refused(http_request, error)
        return _back(back)
    messages.success(
        http_request,
        ngettext(
            "%(n)d request assigned to %(name)s.", "%(n)d requests assigned to %(name)s.", len(rows)
        )
        % {"n": len(rows), "name": form.cleaned_data["assignee"].get_username()},
    )
    return _back(back)


@staff_required
def saved_filter_open(http_request, filter_id: int):
    """Open one of the user's own saved filters (another user's answers 404)."""
    saved = get_object_or_404(SavedQueueFilter, pk=filter_id, user=http_request.user)
    return _back(saved.query)


@require_POST
@staff_required
def saved_filter_save(http_request):
    form = f.SavedFilterForm(http_request.POST)
    query = http_request.POST.get("query", "")
    if not form.is_valid():
        messages.error(http_request, _("Give the filter a name."))
        return _back(query)
    try:
        saved = svc.saved_filter_save(
            user=http_request.user, name=form.cleaned_data["name"], query=query
        )
    except StaffActionError as error:
        action_refused(http_request, error)
        return _back(query)
    messages.success(http_request, _("Filter “%(name)s” saved.") % {"name": saved.name})
    return _back(saved.query)


@require_POST
@staff_required
def saved_filter_delete(http_request, filter_id: int):
    if not svc.saved_filter_delete(user=http_request.user, filter_id=filter_id):
        raise Http404
    messages.success(http_request, _("The saved filter is deleted."))
    return _back(http_request.POST.get("next", ""))
