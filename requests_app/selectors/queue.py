"""Reads for the staff side: the queue, a request's records summary and timeline, reports.

Each read is a fixed number of queries whatever the number of rows: the
queue page is one count and one page query (`select_related`), the records
summary one aggregated query, the timeline two queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from requests_app.choices import localized_name
from requests_app.deadlines import local_today
from requests_app.labels import sweep_outcome_label
from requests_app.models import (
    OPEN_STATUSES,
    ClockPause,
    RequestKind,
    RequestResolution,
    RequestStatus,
    RequestSubjectMatch,
    SubjectRequest,
)
from requests_app.permissions import QUEUE_STATUSES, staff_roles
from requests_app.references import reference_normalise
from retention.models import (
    AuditEntry,
    DataCategory,
    Organisation,
    Record,
    RetentionRule,
    SweepRun,
)
from retention.selectors.expiry import expiring_per_rule

# The queue's sortable columns (a whitelist: nothing else reaches ORDER BY). Each ends
# in unique keys so that pages never overlap; "-due" sorts the other way round.
QUEUE_SORTS = {
    "due": ("due_date", "received_at", "id"),
    "received": ("received_at", "id"),
    "reference": ("reference", "id"),
    "kind": ("kind", "due_date", "id"),
    "status": ("status", "due_date", "id"),
    "assignee": ("assignee__username", "due_date", "id"),
}
DEFAULT_SORT = "due"


def queue_sort_clean(sort: str) -> str:
    """A sort key of `QUEUE_SORTS`, optionally with "-"; the default otherwise."""
    return sort if (sort or "").lstrip("-") in QUEUE_SORTS else DEFAULT_SORT


def _order_by(sort: str) -> list:
    key = queue_sort_clean(sort)
    fields = QUEUE_SORTS[key.lstrip("-")]
    if not key.startswith("-"):
        return [F(fields[0]).asc(nulls_last=True), *fields[1:]]
    return [F(fields[0]).desc(nulls_last=True), *[f"-{f}" for f in fields[1:]]]


def queue_filtered(
    *,
    user,
    organisation_id: int | None,
    kind: str,
    assignee: str,
    due_within: int | None,
    overdue: bool,
    awaiting: bool,
    q: str,
    today: dt.date,
) -> QuerySet[SubjectRequest]:
    """The user's verified requests with every filter but the status one."""
    org_ids = list(staff_roles(user))
    if organisation_id is not None:
        org_ids = [o for o in org_ids if o == organisation_id]
    qs = SubjectRequest.objects.filter(organisation_id__in=org_ids, status__in=QUEUE_STATUSES)
    if kind in RequestKind.values:
        qs = qs.filter(kind=kind)
    if assignee == "me":
        qs = qs.filter(assignee=user)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee.isdigit():
        qs = qs.filter(assignee_id=int(assignee))
    if due_within is not None:
        qs = qs.filter(due_date__lte=today + dt.timedelta(days=due_within))
    if overdue:
        qs = qs.filter(due_date__lt=today, status__in=OPEN_STATUSES)
    if awaiting:
        qs = qs.filter(status=RequestStatus.AWAITING_SUBJECT)
    q = (q or "").strip()
    if q:
        if "@" in q:
            qs = qs.filter(email__iexact=q.lower())
        elif q.upper().startswith("DSR-"):
            qs = qs.filter(reference__startswith=reference_normalise(q))
        else:
            qs = qs.filter(Q(full_name__icontains=q) | Q(reference__icontains=q.upper()))
    return qs


def queue_requests(
    *,
    user,
    organisation_id: int | None = None,
    kind: str = "",
    status: str = "open",
    assignee: str = "",
    due_within: int | None = None,
    overdue: bool = False,
    awaiting: bool = False,
    q: str = "",
    sort: str = DEFAULT_SORT,
    today: dt.date | None = None,
) -> QuerySet[SubjectRequest]:
    """The requests the user may see, filtered and sorted (by default: most urgent first).

    Each row carries `paused`: its clock is paused, waiting for the person (a
    subquery of the same query, not one query per row).
    """
    qs = queue_filtered(
        user=user,
        organisation_id=organisation_id,
        kind=kind,
        assignee=assignee,
        due_within=due_within,
        overdue=overdue,
        awaiting=awaiting,
        q=q,
        today=today or local_today(),
    )
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status in QUEUE_STATUSES:
        qs = qs.filter(status=status)
    open_pause = ClockPause.objects.filter(request=OuterRef("pk"), ended_at__isnull=True)
    # The organisation's policy document is large JSON the queue never shows.
    return (
        qs.select_related("organisation", "assignee")
        .defer("organisation__policy")
        .annotate(paused=Exists(open_pause))
        .order_by(*_order_by(sort))
    )


def days_left(request: SubjectRequest, today: dt.date | None = None) -> int:
    """Days until the due date (negative: overdue)."""
    return (request.due_date - (today or local_today(request.organisation.time_zone))).days


@dataclass
class CategorySummary:
    subject_id: int
    category: str
    records: int
    restricted: int


def request_records_summary(*, request: SubjectRequest) -> list[CategorySummary]:
    """The matched subjects' records counted per category: one aggregated query."""
    rows = (
        Record.objects.filter(
            organisation_id=request.organisation_id,
            subject_id__in=RequestSubjectMatch.objects.filter(request=request).values("subject_id"),
        )
        .values("subject_id", "category__key", "category__name_sv", "category__name_en")
        .annotate(
            records=Count("id"), restricted=Count("id", filter=Q(restricted_at__isnull=False))
        )
        .order_by("subject_id", "category__key")
    )
    english = _english()
    return [
        CategorySummary(
            subject_id=row["subject_id"],
            category=row["category__name_en"] if english else row["category__name_sv"],
            records=row["records"],
            restricted=row["restricted"],
        )
        for row in rows
    ]


def _english() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "sv").startswith("en")


ACTION_LABELS = {
    "requests.request.submitted": _("Request submitted"),
    "requests.request.verified": _("E-mail address verified by the person"),
    "requests.request.linked": _("Joined to an earlier request"),
    "requests.request.extended": _("Time limit extended"),
    "requests.deadline.corrected": _("Due date recounted from receipt (Art. 12(3))"),
    "requests.clock.paused": _("Clock paused"),
    "requests.clock.resumed": _("Clock resumed"),
    "requests.request.assigned": _("Assigned"),
    "requests.request.unassigned": _("Unassigned"),
    "requests.note.added": _("Internal note added"),
    "requests.information.requested": _("Information requested from the person"),
    "requests.information.answered": _("The person answered"),
    "requests.identity.confirmed": _("Identity confirmed by another means"),
    "requests.request.refused": _("Refused"),
    "requests.request.approved": _("Approved for fulfilment"),
    "requests.request.completed": _("Completed"),
    "requests.request.cancelled": _("Cancelled"),
    "requests.subject.records_viewed": _("A subject's records were viewed"),
    "requests.verification.code_requested": _("A new code was requested"),
    "requests.verification.code_sent": _("Code sent by e-mail"),
    "requests.verification.ok": _("Code entered correctly"),
    "requests.verification.wrong": _("Wrong code entered"),
    "requests.verification.expired": _("Expired code entered"),
    "requests.verification.locked": _("Code locked after too many tries"),
    # Fulfilment (requests_app.services.fulfilment)
    "requests.request.honoured": _("Honoured on verification, without staff"),
    "requests.erasure.planned": _("Erasure planned"),
    "requests.erasure.plan_approved": _("Erasure plan approved"),
    "requests.erasure.retried": _("Failed erasure handed to the workers again"),
    "requests.correction.decided": _("Decision on a proposed correction"),
    "requests.objection.decided": _("Decision on an objection to a purpose"),
    "requests.recipient.notified": _("Recipient told (Art. 19)"),
    "requests.recipient.no_address": _("Recipient has no e-mail address (Art. 19)"),
    "requests.restriction.lift_requested": _("Lifting of the restriction requested"),
    "requests.restriction.lift_notified": _("The person was told of the lifting (Art. 18(3))"),
    "requests.restriction.lifted": _("Restriction lifted"),
    "requests.package.started": _("Package build started"),
    "requests.package.built": _("Package built, ready for review"),
    "requests.package.reviewed": _("Package opened by staff"),
    "requests.package.released": _("Package released to the person"),
    "requests.package.downloaded": _("Package downloaded by the person"),
    "requests.package.expired": _("Package expired and deleted"),
    "requests.package.failed": _("Package could not be built"),
    "requests.package.retried": _("Failed package build started again"),
}


@dataclass
class TimelineItem:
    at: dt.datetime
    action: str
    label: str
    actor: str
    data: dict


def request_timeline(*, request: SubjectRequest) -> list[TimelineItem]:
    """The request's history, read from the audit trail (two queries)."""
    entries = list(
        AuditEntry.objects.filter(object_type="subject_request", object_id=str(request.pk))
        .order_by("id")
        .only("created_at", "actor_kind", "actor_id", "action", "data")
    )
    staff_ids = {e.actor_id for e in entries if e.actor_kind == AuditEntry.ActorKind.STAFF}
    names = dict(get_user_model().objects.filter(pk__in=staff_ids).values_list("pk", "username"))
    actors = {
        AuditEntry.ActorKind.SUBJECT: _("the person"),
        AuditEntry.ActorKind.SYSTEM: _("the system"),
    }
    return [
        TimelineItem(
            at=e.created_at,
            action=e.action,
            label=str(ACTION_LABELS.get(e.action, e.action)),
            actor=names.get(e.actor_id, "?")
            if e.actor_kind == AuditEntry.ActorKind.STAFF
            else str(actors.get(e.actor_kind, e.actor_kind)),
            data=e.data,
        )
        for e in entries
    ]


# --- Reports ----------------------------------------------------------------------


@dataclass
class Report:
    open_by_kind_status: list[dict]
    open_total: int
    overdue: int
    closed: int
    closed_on_time: int
    on_time_share: float | None
    median_days_to_close: float | None


def organisation_report(
    *, organisation: Organisation, start: dt.date, end: dt.date, today: dt.date | None = None
) -> Report:
    """Open requests now, and how the requests closed in [start, end] fared."""
    today = today or local_today(organisation.time_zone)
    open_qs = SubjectRequest.objects.filter(organisation=organisation, status__in=OPEN_STATUSES)
    by_kind_status = list(
        open_qs.values("kind", "status").annotate(count=Count("id")).order_by("kind", "status")
    )
    kinds, statuses = dict(RequestKind.choices), dict(RequestStatus.choices)
    for row in by_kind_status:
        row["kind_label"], row["status_label"] = kinds[row["kind"]], statuses[row["status"]]
    overdue = open_qs.filter(due_date__lt=today).count()
    tz = ZoneInfo(organisation.time_zone)
    start_at = dt.datetime.combine(start, dt.time.min, tz)
    end_at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tz)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE res.on_time),
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY extract(epoch FROM res.decided_at - r.received_at) / 86400.0)
              FROM {RequestResolution._meta.db_table} res
              JOIN {SubjectRequest._meta.db_table} r ON r.id = res.request_id
             WHERE r.organisation_id = %s AND res.decided_at >= %s AND res.decided_at < %s
            """,  # noqa: S608  (table names from the models; values are parameters)
            [organisation.pk, start_at, end_at],
        )
        closed, on_time, median = cursor.fetchone()
    return Report(
        open_by_kind_status=by_kind_status,
        open_total=sum(r["count"] for r in by_kind_status),
        overdue=overdue,
        closed=closed,
        closed_on_time=on_time,
        on_time_share=(on_time / closed) if closed else None,
        median_days_to_close=round(float(median), 1) if median is not None else None,
    )


REGISTER_COLUMNS = [
    "reference",
    "organisation",
    "type",
    "status",
    "received_at",
    "verified_at",
    "original_due_date",
    "extended_due_date",
    "due_date",
    "identity_checked_by_staff",
    "approved_at",
    "outcome",
    "refusal_reasons",
    "closed_at",
    "closed_on_time",
]


def register_rows(*, organisation: Organisation, start: dt.date, end: dt.date):
    """The request register (Art. 5(2)): one row per request received in [start, end].

    No personal data beyond the reference: no name, address, e-mail, number,
    free text or the staff member's identity.
    """
    tz = ZoneInfo(organisation.time_zone)
    qs = (
        SubjectRequest.objects.filter(
            organisation=organisation,
            status__in=QUEUE_STATUSES,
            received_at__gte=dt.datetime.combine(start, dt.time.min, tz),
            received_at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tz),
        )
        .select_related("resolution", "approval")
        .annotate(n_identity_checks=Count("identity_checks"))
        .order_by("received_at", "id")
        .only(
            "reference",
            "kind",
            "status",
            "received_at",
            "verified_at",
            "original_due_date",
            "extended_due_date",
            "due_date",
            "resolution",
            "approval",
        )
    )
    for r in qs.iterator(chunk_size=2000):
        resolution = getattr(r, "resolution", None)
        approval = getattr(r, "approval", None)
        yield [
            r.reference,
            organisation.slug,
            r.kind,
            r.status,
            r.received_at.astimezone(tz).isoformat(),
            r.verified_at.astimezone(tz).isoformat() if r.verified_at else "",
            r.original_due_date.isoformat(),
            r.extended_due_date.isoformat() if r.extended_due_date else "",
            r.due_date.isoformat(),
            "yes" if r.n_identity_checks else "no",
            approval.approved_at.astimezone(tz).isoformat() if approval else "",
            resolution.outcome if resolution else "",
            " ".join(resolution.reasons) if resolution else "",
            resolution.decided_at.astimezone(tz).isoformat() if resolution else "",
            ("yes" if resolution.on_time else "no") if resolution else "",
        ]


# --- Retention forecast -------------------------------------------------------------


@dataclass
class ExpiryForecast:
    rule_key: str
    rule_name: str
    action: str
    tonight: int
    week: int
    month: int
    examples: list[tuple[int, str]]


def expiry_forecast(*, organisation: Organisation, examples: int = 3) -> list[ExpiryForecast]:
    """Records that expire by tonight's sweep, within 7 and 30 days, per rule.

    Records under an active legal hold or an Art. 18 restriction are left out
    (the sweep skips them). Examples are record ids with their category:
    nothing else of the record.
    """
    tz = ZoneInfo(organisation.time_zone)
    now = timezone.now()
    tonight = dt.datetime.combine(now.astimezone(tz).date() + dt.timedelta(days=1), dt.time.min, tz)
    rows = expiring_per_rule(
        organisation=organisation,
        tonight=tonight,
        week=now + dt.timedelta(days=7),
        month=now + dt.timedelta(days=30),
        examples=examples,
        now=now,
    )
    rules = {r.pk: r for r in RetentionRule.objects.filter(organisation=organisation)}
    categories = {
        c.pk: localized_name(c)
        for c in DataCategory.objects.filter(organisation=organisation).only("name_sv", "name_en")
    }
    result = []
    for rule_id, n_tonight, n_week, n_month, sample in rows:
        rule = rules.get(rule_id)
        pairs = [s.split(":") for s in sample or []]
        result.append(
            ExpiryForecast(
                rule_key=rule.key if rule else "-",
                rule_name=localized_name(rule) if rule else "-",
                action=rule.get_action_display() if rule else "-",
                tonight=n_tonight,
                week=n_week,
                month=n_month,
                examples=[(int(i), categories.get(int(c), "?")) for i, c in pairs],
            )
        )
    return sorted(result, key=lambda f: f.rule_key)


@dataclass
class PolicyGap:
    file: str
    line: int | None
    entry: str
    message: str


def policy_gaps(*, organisation: Organisation) -> list[PolicyGap]:
    """What `check_policies` warned about in the organisation's policy file (no query)."""
    from retention.services.policy_check import gap_message

    return [
        PolicyGap(
            file=f"{organisation.slug}.yaml",
            line=gap.get("line"),
            entry=gap.get("entry", ""),
            message=gap_message(gap),
        )
        for gap in organisation.policy_gaps or []
    ]


@dataclass
class SweepRunRow:
    run: SweepRun
    # (the rule's name, [(what was done, how many), ...]) per rule, in the active language.
    counts: list[tuple[str, list[tuple[str, int]]]]


def sweep_runs(*, organisation: Organisation, limit: int = 20) -> list[SweepRunRow]:
    """The latest sweeps with their counts per rule, named for a person (two queries)."""
    runs = list(SweepRun.objects.filter(organisation=organisation).order_by("-started_at")[:limit])
    rules = {
        r.key: localized_name(r) for r in RetentionRule.objects.filter(organisation=organisation)
    }
    return [
        SweepRunRow(
            run=run,
            counts=[
                (
                    rules.get(key, key.replace("_", " ")),
                    [(sweep_outcome_label(action), n) for action, n in counts.items()],
                )
                for key, counts in run.rule_counts.items()
            ],
        )
        for run in runs
    ]


def sweep_progress(*, organisation: Organisation, limit: int = 20) -> dict:
    """What the retention page polls while a sweep runs: each shown sweep's status and
    progress (one query), in the shape `static/js/progress.js` writes into the page."""
    runs = SweepRun.objects.filter(organisation=organisation).order_by("-started_at")[:limit]
    fields, bars, running = {}, [], False
    for run in runs:
        running = running or run.status == SweepRun.Status.RUNNING
        fields[f"sweep.{run.pk}.status"] = str(run.get_status_display())
        fields[f"sweep.{run.pk}.progress"] = f"{run.processed} / {run.expected}"
        bars.append({"id": f"sweep-{run.pk}-bar", "done": run.processed, "total": run.expected})
    return {"running": running, "fields": fields, "bars": bars}
