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
from dataclasses import dataclass

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

_FIELDS = ("id", "reference", "kind", "status", "due_date", "organisation__display_name")
_LISTS = ("due_soon", "overdue_mine", "overdue_org", "failed_org", "given_up_org")


@dataclass
class _Digests:
    """The requests the digests name: assigned ones by assignee, the others by organisation."""

    assigned: dict[int, list[SubjectRequest]]
    overdue: dict[int, list[SubjectRequest]]
    failed: dict[int, list[SubjectRequest]]
    given_up: dict[int, list[SubjectRequest]]


def deadline_digest_send(*, today: dt.date | None = None) -> int:
    """E-mail each staff member their digest; return how many e-mails were sent."""
    today = today or local_today()
    digests = _digest_requests(today)
    approver_orgs = _approver_orgs(
        set(digests.overdue) | set(digests.failed) | set(digests.given_up)
    )
    users = list(
        get_user_model()
        .objects.filter(pk__in=set(digests.assigned) | set(approver_orgs), is_active=True)
        .exclude(email="")
        .order_by("pk")
    )
    languages = staff_languages(user_ids=[user.pk for user in users])
    sent = 0
    for user in users:
        if not cache.add(f"staff-digest:{today.isoformat()}:{user.pk}", 1, timeout=36 * 3600):
            continue  # already sent today
        context = _digest_context(user, today, digests, approver_orgs.get(user.pk, []))
        _digest_email(user, context, languages.get(user.pk, settings.LANGUAGE_CODE))
        sent += 1
    log_action(action="staff.digest.sent", data={"date": today.isoformat(), "emails": sent})
    return sent


def _grouped(requests, key: str) -> defaultdict[int, list[SubjectRequest]]:
    """The requests (a query, run here) in lists by their field `key`, in the query's order."""
    groups = defaultdict(list)
    for r in requests:
        groups[getattr(r, key)].append(r)
    return groups


def _digest_requests(today: dt.date) -> _Digests:
    """The open requests assigned and due soon, overdue, failed, and those the relay gave up on."""
    horizon = today + dt.timedelta(days=settings.STAFF_DIGEST_DAYS)
    assigned = _grouped(
        SubjectRequest.objects.filter(
            status__in=OPEN_STATUSES, assignee__isnull=False, due_date__lte=horizon
        )
        .select_related("organisation")
        .order_by("due_date", "id")
        .only(*_FIELDS, "assignee_id"),
        "assignee_id",
    )
    overdue = _grouped(
        SubjectRequest.objects.filter(status__in=OPEN_STATUSES, due_date__lt=today)
        .select_related("organisation")
        .order_by("due_date", "id")
        .only(*_FIELDS, "organisation_id"),
        "organisation_id",
    )
    # Requests stuck because the workers gave up on their erasure job or package: only an
    # approver can hand them to the workers again.
    failed = _grouped(
        SubjectRequest.objects.filter(failed_fulfilment(), status__in=OPEN_STATUSES)
        .select_related("organisation")
        .order_by("due_date", "id")
        .only(*_FIELDS, "organisation_id"),
        "organisation_id",
    )
    return _Digests(assigned, overdue, failed, _given_up_requests())


def _given_up_requests() -> defaultdict[int, list[SubjectRequest]]:
    """By organisation, the requests with work the outbox relay gave up on.

    Any status but unverified (a lost e-mail about a closed request still
    matters); the person can ask for a new code.
    """
    if not (given_up := given_up_request_ids()):
        return defaultdict(list)
    return _grouped(
        SubjectRequest.objects.filter(pk__in=given_up)
        .exclude(status=RequestStatus.UNVERIFIED)
        .select_related("organisation")
        .order_by("due_date", "id")
        .only(*_FIELDS, "organisation_id"),
        "organisation_id",
    )


def _approver_orgs(org_ids: set[int]) -> defaultdict[int, list[int]]:
    """{user id: [organisation id]} of the approvers (and admins) of these organisations."""
    approver_orgs = defaultdict(list)
    for user_id, org_id, role in StaffMembership.objects.filter(
        organisation_id__in=org_ids
    ).values_list("user_id", "organisation_id", "role"):
        if ROLE_RANK[role] >= ROLE_RANK[StaffMembership.Role.APPROVER]:
            approver_orgs[user_id].append(org_id)
    return approver_orgs


def _digest_context(user, today: dt.date, digests: _Digests, orgs: list[int]) -> dict:
    """The template context of one person's digest, each request with its days left and URL."""
    mine = digests.assigned.get(user.pk, [])
    context = {
        "user": user,
        "today": today,
        "due_soon": [r for r in mine if r.due_date >= today],
        "overdue_mine": [r for r in mine if r.due_date < today],
        "overdue_org": [r for org in orgs for r in digests.overdue.get(org, [])],
        "failed_org": [r for org in orgs for r in digests.failed.get(org, [])],
        "given_up_org": [r for org in orgs for r in digests.given_up.get(org, [])],
        "days": settings.STAFF_DIGEST_DAYS,
        "queue_url": public_url(reverse("staff:queue")),
    }
    for name in _LISTS:
        for r in context[name]:
            r.days_left = (r.due_date - today).days
            r.url = public_url(reverse("staff:detail", kwargs={"reference": r.reference}))
    return context


def _digest_email(user, context: dict, language: str) -> None:
    """Render the digest in the reader's language and send it to them."""
    with translation.override(language):
        subject = " ".join(render_to_string("emails/staff_digest.subject.txt", context).split())
        text = render_to_string("emails/staff_digest.txt", context)
        html = render_to_string("emails/staff_digest.html", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email]
    )
    message.attach_alternative(html, "text/html")
    message.send()


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
