"""The morning deadline digest for staff.

Every staff member with requests assigned to them gets the ones due within
`STAFF_DIGEST_DAYS` days and the overdue ones; approvers (and admins) of an
organisation also get all its overdue requests, and those the workers could
not carry out (a failed erasure job or package build: only an approver can
try again, on the request's page), or whose outbox message the relay gave up
publishing again (`outbox_redeliver`: an e-mail or a step never carried
out; the technical administrator looks into it). One e-mail per person, sent
at most once a day (a repeat of the task sends nothing). The e-mail holds
references, types and dates only, no personal data of the requesters.

Each e-mail is in its reader's language: the one they chose on their settings
page (`services.staff_preferences`), else the default language of the
organisation they belong to, the first one they were made a member of when
they belong to several.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from requests_app.deadlines import local_today
from requests_app.models import (
    OPEN_STATUSES,
    Fulfilment,
    OutboxMessage,
    RecipientNotification,
    RequestStatus,
    SubjectRequest,
)
from requests_app.permissions import ROLE_RANK
from requests_app.selectors.fulfilment import failed_fulfilment
from requests_app.services.emails import public_url
from requests_app.services.staff_preferences import staff_languages_chosen
from retention.audit import log_action
from retention.models import StaffMembership


def deadline_digest_send(*, today: dt.date | None = None) -> int:
    """E-mail each staff member their digest; return how many e-mails were sent."""
    today = today or local_today()
    horizon = today + dt.timedelta(days=settings.STAFF_DIGEST_DAYS)
    fields = ("id", "reference", "kind", "status", "due_date", "organisation__display_name")
    assigned = defaultdict(list)
    for r in (
        SubjectRequest.objects.filter(
            status__in=OPEN_STATUSES, assignee__isnull=False, due_date__lte=horizon
        )
        .select_related("organisation")
        .order_by("due_date", "id")
        .only(*fields, "assignee_id")
    ):
        assigned[r.assignee_id].append(r)
    overdue_by_org = defaultdict(list)
    for r in (
        SubjectRequest.objects.filter(status__in=OPEN_STATUSES, due_date__lt=today)
        .select_related("organisation")
        .order_by("due_date", "id")
        .only(*fields, "organisation_id")
    ):
        overdue_by_org[r.organisation_id].append(r)
    # Requests stuck because the workers gave up on their erasure job or package: only an
    # approver can hand them to the workers again.
    failed_by_org = defaultdict(list)
    for r in (
        SubjectRequest.objects.filter(failed_fulfilment(), status__in=OPEN_STATUSES)
        .select_related("organisation")
        .order_by("due_date", "id")
        .only(*fields, "organisation_id")
    ):
        failed_by_org[r.organisation_id].append(r)
    # Requests with work the outbox relay gave up on: any status but unverified (a lost
    # e-mail about a closed request still matters); the person can ask for a new code.
    given_up_by_org = defaultdict(list)
    if given_up := given_up_request_ids():
        for r in (
            SubjectRequest.objects.filter(pk__in=given_up)
            .exclude(status=RequestStatus.UNVERIFIED)
            .select_related("organisation")
            .order_by("due_date", "id")
            .only(*fields, "organisation_id")
        ):
            given_up_by_org[r.organisation_id].append(r)
    approver_orgs = defaultdict(list)
    for user_id, org_id, role in StaffMembership.objects.filter(
        organisation_id__in=set(overdue_by_org) | set(failed_by_org) | set(given_up_by_org)
    ).values_list("user_id", "organisation_id", "role"):
        if ROLE_RANK[role] >= ROLE_RANK[StaffMembership.Role.APPROVER]:
            approver_orgs[user_id].append(org_id)
    users = list(
        get_user_model()
        .objects.filter(pk__in=set(assigned) | set(approver_orgs), is_active=True)
        .exclude(email="")
        .order_by("pk")
    )
    languages = staff_languages(user_ids=[user.pk for user in users])
    sent = 0
    for user in users:
        if not cache.add(f"staff-digest:{today.isoformat()}:{user.pk}", 1, timeout=36 * 3600):
            continue  # already sent today
        mine = assigned.get(user.pk, [])
        orgs = approver_orgs.get(user.pk, [])
        org_overdue = [r for org in orgs for r in overdue_by_org.get(org, [])]
        org_failed = [r for org in orgs for r in failed_by_org.get(org, [])]
        org_given_up = [r for org in orgs for r in given_up_by_org.get(org, [])]
        context = {
            "user": user,
            "today": today,
            "due_soon": [r for r in mine if r.due_date >= today],
            "overdue_mine": [r for r in mine if r.due_date < today],
            "overdue_org": org_overdue,
            "failed_org": org_failed,
            "given_up_org": org_given_up,
            "days": settings.STAFF_DIGEST_DAYS,
            "queue_url": public_url(reverse("staff:queue")),
        }
        for items in (
            context["due_soon"],
            context["overdue_mine"],
            context["overdue_org"],
            context["failed_org"],
            context["given_up_org"],
        ):
            for r in items:
                r.days_left = (r.due_date - today).days
                r.url = public_url(reverse("staff:detail", kwargs={"reference": r.reference}))
        with translation.override(languages.get(user.pk, settings.LANGUAGE_CODE)):
            subject = " ".join(render_to_string("emails/staff_digest.subject.txt", context).split())
            text = render_to_string("emails/staff_digest.txt", context)
            html = render_to_string("emails/staff_digest.html", context)
        message = EmailMultiAlternatives(
            subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email]
        )
        message.attach_alternative(html, "text/html")
        message.send()
        sent += 1
    log_action(action="staff.digest.sent", data={"date": today.isoformat(), "emails": sent})
    return sent


def given_up_request_ids() -> set[int]:
    """The requests of the outbox messages the relay gave up on that no run finished since.

    A message names its request, or the erasure job or Art. 19 notice of one.
    """
    payloads = list(
        OutboxMessage.objects.filter(
            gave_up_at__isnull=False, completed_at__isnull=True
        ).values_list("payload", flat=True)
    )
    ids = {p["request_id"] for p in payloads if "request_id" in p}
    if jobs := {p["job_id"] for p in payloads if "job_id" in p}:
        ids |= set(Fulfilment.objects.filter(job_id__in=jobs).values_list("request_id", flat=True))
    if notices := {p["notification_id"] for p in payloads if "notification_id" in p}:
        ids |= set(
            RecipientNotification.objects.filter(pk__in=notices).values_list(
                "request_id", flat=True
            )
        )
    return ids


def staff_languages(*, user_ids: list[int]) -> dict[int, str]:
    """{user id: language} for e-mails to staff: their own choice, else their first
    organisation's default language."""
    languages = staff_languages_chosen(user_ids=user_ids)
    for user_id, language in (
        StaffMembership.objects.filter(user_id__in=user_ids)
        .order_by("id")
        .values_list("user_id", "organisation__default_language")
    ):
        languages.setdefault(user_id, language)
    return languages
