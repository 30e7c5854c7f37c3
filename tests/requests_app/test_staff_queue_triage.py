"""The queue built for triage (issue 16, item 3): badges, counts per status as quick filters,
sortable columns, pagination that keeps the filters, bulk assignment for approvers and
admins, and saved filters per staff member.

The stranger's tests come first: who must not be able to bulk-assign, or to use or
delete someone else's saved filter.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from requests_app.models import RequestEvent, RequestStatus, SavedQueueFilter
from requests_app.services import queue as svc
from requests_app.services.workflow import StaffActionError
from retention.models import AuditEntry, StaffMembership
from tests.requests_app.helpers import make_request, signed_in

S = RequestStatus
BULK = reverse("staff:bulk_assign")


def refs(response):
    return [r.reference for r in response.context["page"].object_list]


def assigned(*requests):
    for r in requests:
        r.refresh_from_db()
    return [r.assignee_id for r in requests]


@pytest.fixture
def two_orgs(org, other_org, staff):
    """An approver of org A only, a handler of org B only, and a request in each."""
    other_handler = get_user_model().objects.create_user(username="b-handler")
    StaffMembership.objects.create(user=other_handler, organisation=other_org, role="handler")
    return {
        "a": make_request(org, email="a@example.org"),
        "b": make_request(other_org, email="b@example.org"),
        "b_handler": other_handler,
    }


# --- Bulk assignment: who may not ------------------------------------------------------


def test_a_handler_cannot_bulk_assign(org, staff, staff_client):
    """'Bulk assign, for approvers and admins.' A handler may assign one request, not many."""
    request = make_request(org)
    response = staff_client(staff["handler"]).post(
        BULK, {"requests": [request.pk], "assignee": staff["handler"].pk}
    )
    assert response.status_code == 403
    assert assigned(request) == [None]
    with pytest.raises(PermissionDenied):
        svc.requests_bulk_assign(
            actor=staff["handler"], request_ids=[request.pk], assignee=staff["handler"]
        )
    assert not AuditEntry.objects.filter(action="requests.request.assigned").exists()


def test_an_approver_of_org_a_cannot_bulk_assign_a_request_of_org_b(staff, staff_client, two_orgs):
    """Posting another organisation's request id answers 404, as for a single request, and
    nothing is assigned, not even the request of the approver's own organisation."""
    a, b = two_orgs["a"], two_orgs["b"]
    response = staff_client(staff["approver"]).post(
        BULK, {"requests": [a.pk, b.pk], "assignee": staff["handler"].pk}
    )
    assert response.status_code == 404
    assert assigned(a, b) == [None, None]
    assert not AuditEntry.objects.filter(action="requests.request.assigned").exists()


def test_an_approver_cannot_bulk_assign_to_a_user_of_another_organisation_only(
    staff, staff_client, two_orgs
):
    a = two_orgs["a"]
    client = staff_client(staff["approver"])
    response = client.post(BULK, {"requests": [a.pk], "assignee": two_orgs["b_handler"].pk})
    assert response.status_code == 302
    assert assigned(a) == [None]
    # The service refuses it too, whatever the form offered.
    with pytest.raises(StaffActionError) as error:
        svc.requests_bulk_assign(
            actor=staff["approver"], request_ids=[a.pk], assignee=two_orgs["b_handler"]
        )
    assert error.value.code == "assignee_not_handler"
    # Nor to a viewer of the request's own organisation.
    with pytest.raises(StaffActionError):
        svc.requests_bulk_assign(
            actor=staff["approver"], request_ids=[a.pk], assignee=staff["viewer"]
        )
    assert assigned(a) == [None]


def test_bulk_assignment_needs_the_csrf_token(org, staff):
    request = make_request(org)
    client = signed_in(Client(enforce_csrf_checks=True), staff["admin"])
    response = client.post(BULK, {"requests": [request.pk], "assignee": staff["handler"].pk})
    assert response.status_code == 403
    assert assigned(request) == [None]


def test_a_closed_request_among_the_chosen_refuses_the_whole_batch(org, staff, staff_client):
    """One transaction: all or nothing, and the message says which request is in the way."""
    open_one = make_request(org)
    closed = make_request(org, status=S.COMPLETED, email="c@example.org")
    response = staff_client(staff["approver"]).post(
        BULK,
        {"requests": [open_one.pk, closed.pk], "assignee": staff["handler"].pk, "next": "kind=x"},
        follow=True,
    )
    assert assigned(open_one, closed) == [None, None]
    html = response.content.decode()
    assert closed.reference in html
    assert response.redirect_chain[-1][0] == reverse("staff:queue") + "?kind=x"


def test_bulk_assign_refuses_no_choice_and_garbage_ids(org, staff):
    for ids in ([], ["1; DROP TABLE"], None):
        with pytest.raises(StaffActionError):
            svc.requests_bulk_assign(
                actor=staff["approver"], request_ids=ids, assignee=staff["handler"]
            )


# --- Bulk assignment: what it does -------------------------------------------------------


def test_an_approver_assigns_many_requests_in_one_go_with_one_audit_entry_each(
    org, staff, staff_client, django_assert_max_num_queries
):
    """As single assignment does: a new request starts (status event), an audit entry per
    request naming the assignee; the SQL does not grow with the number of requests beyond
    the audit entries (a hash chain: one insert each)."""
    new = [make_request(org, email=f"n{i}@example.org") for i in range(3)]
    waiting = make_request(org, status=S.AWAITING_SUBJECT, email="w@example.org")
    client = staff_client(staff["approver"])
    ids = [r.pk for r in [*new, waiting]]
    with django_assert_max_num_queries(25 + 4 * len(ids)):
        response = client.post(BULK, {"requests": ids, "assignee": staff["handler"].pk})
    assert response.status_code == 302
    assert assigned(*new, waiting) == [staff["handler"].pk] * 4
    assert [r.status for r in new] == [S.IN_PROGRESS] * 3
    assert waiting.status == S.AWAITING_SUBJECT
    assert RequestEvent.objects.filter(request__in=new, data={"status": "in_progress"}).count() == 3
    entries = AuditEntry.objects.filter(action="requests.request.assigned")
    assert sorted(int(e.object_id) for e in entries) == sorted(ids)
    assert all(e.actor_id == staff["approver"].pk for e in entries)
    assert all(e.data["assignee_id"] == staff["handler"].pk for e in entries)


def test_the_bulk_form_is_shown_to_approvers_and_admins_only(org, staff, staff_client):
    make_request(org)
    for role, shown in [("viewer", False), ("handler", False), ("approver", True), ("admin", True)]:
        html = staff_client(staff[role]).get(reverse("staff:queue")).content.decode()
        assert ('id="bulk-assign"' in html) is shown, role
        assert ('name="requests"' in html) is shown, role


def test_the_assignee_list_offers_handlers_of_the_approvers_organisations_only(
    staff, staff_client, two_orgs
):
    response = staff_client(staff["approver"]).get(reverse("staff:queue"))
    offered = {u.username for u in response.context["bulk_form"].fields["assignee"].queryset}
    assert offered == {"handler", "approver", "admin"}


# --- Saved filters -------------------------------------------------------------------------


def test_another_users_saved_filter_can_be_neither_used_nor_deleted(org, staff, staff_client):
    mine = svc.saved_filter_save(user=staff["handler"], name="Mine", query="kind=access")
    stranger = staff_client(staff["admin"])
    assert stranger.get(reverse("staff:saved_filter", args=[mine.pk])).status_code == 404
    response = stranger.post(reverse("staff:saved_filter_delete", args=[mine.pk]))
    assert response.status_code == 404
    assert SavedQueueFilter.objects.filter(pk=mine.pk).exists()
    # Nor is it listed on their queue.
    assert stranger.get(reverse("staff:queue")).context["saved_filters"] == []


def test_a_staff_member_saves_opens_and_deletes_their_filter(org, staff, staff_client):
    client = staff_client(staff["handler"])
    response = client.post(
        reverse("staff:saved_filter_save"),
        {"name": "  My  access ", "query": "kind=access&page=3&evil=1&assignee=me&sort=-due"},
    )
    saved = SavedQueueFilter.objects.get(user=staff["handler"])
    assert saved.name == "My access"
    assert parse_qs(saved.query) == {"kind": ["access"], "assignee": ["me"], "sort": ["-due"]}
    assert response.url == reverse("staff:queue") + "?" + saved.query
    queue = client.get(reverse("staff:queue"))
    assert [s.name for s in queue.context["saved_filters"]] == ["My access"]
    opened = client.get(reverse("staff:saved_filter", args=[saved.pk]))
    assert opened.url == reverse("staff:queue") + "?" + saved.query
    client.post(reverse("staff:saved_filter_delete", args=[saved.pk]))
    assert not SavedQueueFilter.objects.exists()


def test_saving_a_filter_needs_a_name_and_the_same_name_replaces(org, staff, staff_client):
    with pytest.raises(StaffActionError):
        svc.saved_filter_save(user=staff["handler"], name="   ", query="kind=access")
    svc.saved_filter_save(user=staff["handler"], name="Late", query="overdue=on")
    svc.saved_filter_save(user=staff["handler"], name="Late", query="overdue=on&kind=access")
    (saved,) = SavedQueueFilter.objects.all()
    assert parse_qs(saved.query) == {"overdue": ["on"], "kind": ["access"]}


def test_saved_filter_endpoints_need_the_csrf_token(org, staff):
    client = signed_in(Client(enforce_csrf_checks=True), staff["handler"])
    response = client.post(reverse("staff:saved_filter_save"), {"name": "X", "query": ""})
    assert response.status_code == 403
    assert not SavedQueueFilter.objects.exists()


# --- Badges, counts, sorting, pagination -------------------------------------------------------


def test_due_badges_say_overdue_due_soon_and_waiting_in_words(org, staff, staff_client):
    """'Overdue in red, due within 7 days in amber, waiting for the person in grey': the
    colour comes from the class, the meaning from the text."""
    now = timezone.now()
    late = make_request(org, received_at=now - dt.timedelta(days=40), email="l@example.org")
    soon = make_request(org, received_at=now - dt.timedelta(days=27), email="s@example.org")
    waiting = make_request(org, status=S.AWAITING_SUBJECT, email="w@example.org")
    fresh = make_request(org, email="f@example.org")
    response = staff_client(staff["viewer"]).get(reverse("staff:queue"), {"sort": "due"})
    states = {r.reference: r.due_state for r in response.context["page"].object_list}
    assert states == {
        late.reference: "overdue",
        soon.reference: "soon",
        waiting.reference: "waiting",
        fresh.reference: "ok",
    }
    html = response.content.decode()
    assert 'class="badge badge-overdue"' in html and "dagar försenad" in html
    assert 'class="badge badge-soon"' in html
    assert 'class="badge badge-waiting">Väntar på personen<' in html


def test_counts_per_status_are_links_that_set_the_status_filter_and_keep_the_others(
    org, staff, staff_client
):
    make_request(org, kind="access", email="1@example.org")
    make_request(org, kind="access", status=S.AWAITING_SUBJECT, email="2@example.org")
    make_request(org, kind="erasure", status=S.AWAITING_SUBJECT, email="3@example.org")
    make_request(org, kind="access", status=S.COMPLETED, email="4@example.org")
    response = staff_client(staff["viewer"]).get(
        reverse("staff:queue"), {"kind": "access", "page": "2"}
    )
    tabs = {t["status"]: t for t in response.context["tabs"]}
    assert (tabs["open"]["count"], tabs["new"]["count"], tabs["all"]["count"]) == (2, 1, 3)
    assert tabs["awaiting_subject"]["count"] == 1
    assert tabs["open"]["current"] and not tabs["new"]["current"]
    query = parse_qs(urlsplit(tabs["awaiting_subject"]["url"]).query)
    assert query == {"kind": ["access"], "status": ["awaiting_subject"]}


def test_sortable_columns_use_a_whitelist_and_say_how_they_are_sorted(org, staff, staff_client):
    now = timezone.now()
    old = make_request(org, received_at=now - dt.timedelta(days=20), email="o@example.org")
    new = make_request(org, received_at=now, email="n@example.org", assignee=staff["handler"])
    client = staff_client(staff["viewer"])
    get = lambda **params: client.get(reverse("staff:queue"), params)  # noqa: E731
    assert refs(get()) == [old.reference, new.reference]  # default: due date ascending
    assert refs(get(sort="-received")) == [new.reference, old.reference]
    assert refs(get(sort="-assignee")) == [new.reference, old.reference]
    assert refs(get(sort="email")) == refs(get())  # not a sort key: the default
    assert refs(get(sort="-organisation__policy")) == refs(get())
    response = get(sort="received", kind="erasure")
    headers = {h["key"]: h for h in response.context["headers"]}
    assert headers["received"]["aria_sort"] == "ascending"
    assert headers["due"]["aria_sort"] == ""
    assert parse_qs(urlsplit(headers["received"]["url"]).query) == {
        "kind": ["erasure"],
        "sort": ["-received"],
    }
    assert 'aria-sort="ascending"' in response.content.decode()


def test_pagination_keeps_the_filters_and_the_sort(org, staff, staff_client):
    for i in range(52):
        make_request(org, kind="access", email=f"p{i}@example.org")
    response = staff_client(staff["viewer"]).get(
        reverse("staff:queue"), {"kind": "access", "sort": "-received"}
    )
    assert len(response.context["page"].object_list) == 50
    html = response.content.decode()
    assert "?kind=access&amp;sort=-received&amp;page=2" in html
    page2 = staff_client(staff["viewer"]).get(
        reverse("staff:queue"), {"kind": "access", "sort": "-received", "page": "2"}
    )
    assert len(page2.context["page"].object_list) == 2


def test_the_queue_page_makes_a_fixed_number_of_queries(
    org, staff, staff_client, django_assert_max_num_queries
):
    """Counts, saved filters and the assignee list are one query each, whatever the rows."""
    client = staff_client(staff["admin"])
    for i in range(30):
        make_request(org, assignee=staff["handler"], email=f"q{i}@example.org")
    svc.saved_filter_save(user=staff["admin"], name="Mine", query="kind=access")
    client.get(reverse("staff:queue"))
    with django_assert_max_num_queries(14):
        response = client.get(reverse("staff:queue"))
    assert len(response.context["page"].object_list) == 30


def test_a_filter_query_is_cleaned_to_the_filters_keys():
    assert svc.filter_query_clean("page=2&q=bo&x=1&status=") == "q=bo"
    assert svc.filter_query_clean("") == ""


def test_assign_requires_approver_in_every_organisation_of_the_batch(org, other_org, staff):
    """An approver of A who is only a handler of B cannot bulk-assign B's requests."""
    StaffMembership.objects.create(user=staff["approver"], organisation=other_org, role="handler")
    StaffMembership.objects.create(user=staff["handler"], organisation=other_org, role="handler")
    staff["approver"].__dict__.pop("_staff_roles", None)
    b = make_request(other_org, email="b@example.org")
    with pytest.raises(PermissionDenied):
        svc.requests_bulk_assign(
            actor=staff["approver"], request_ids=[b.pk], assignee=staff["handler"]
        )
    with pytest.raises(Http404):
        svc.requests_bulk_assign(
            actor=staff["approver"], request_ids=[b.pk + 1000], assignee=staff["handler"]
        )
