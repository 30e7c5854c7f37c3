"""Reads for fulfilment: what a request's staff page and staff API show of carrying it out.

An erasure plan lives as JSON on its `RecordStoreJob` and can list a great
many records; it is read through `retention.selectors.plans` (grouped,
counted or one page at a time, in SQL), never whole into Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

from requests_app.choices import localized_name
from requests_app.models import (
    CorrectionDecision,
    DataPackage,
    Fulfilment,
    ObjectionDecision,
    RecipientNotification,
    RequestKind,
    RestrictionLift,
    SubjectRequest,
)
from requests_app.names import Names
from requests_app.selectors.matching import request_subject_ids_query
from retention.field_labels import field_label
from retention.models import Record, RecordStoreJob
from retention.selectors.plans import plan_counts, plan_groups, plan_page

# Plan items on a page of the staff page and the staff API.
PLAN_PAGE_SIZE = 100
TARGET_RECORDS_MAX = 500


# --- Names and dates in the reader's language ---------------------------------------------


def last_day(until: str | None, time_zone: str) -> dt.date | None:
    """The last day data is kept: an expiry at midnight means "until the day before"."""
    if not until:
        return None
    moment = dt.datetime.fromisoformat(until).astimezone(ZoneInfo(time_zone))
    return (moment - dt.timedelta(microseconds=1)).date()


# --- The staff page -------------------------------------------------------------------------


@dataclass
class FulfilmentView:
    fulfilment: Fulfilment | None
    job: RecordStoreJob | None = None
    counts: dict | None = None
    groups: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    page: int = 1
    pages: int = 1
    corrections: list[dict] = field(default_factory=list)
    objections: list[dict] = field(default_factory=list)
    notifications: list[RecipientNotification] = field(default_factory=list)
    restricted_records: int = 0
    # Records the plan keeps for a law whose rule gives no keep-until date (fix the policy).
    policy_errors: int = 0


def fulfilment_view(*, request: SubjectRequest, page: int = 1) -> FulfilmentView:
    """Everything the staff detail page shows about carrying out the request."""
    fulfilment = Fulfilment.objects.filter(request=request).first()
    view = FulfilmentView(fulfilment=fulfilment)
    names = Names.of(request.organisation_id)
    tz = request.organisation.time_zone
    if fulfilment is not None and fulfilment.job_id:
        view.job = RecordStoreJob.objects.defer("plan").get(pk=fulfilment.job_id)
        view.counts = plan_counts(job_id=fulfilment.job_id)
        view.pages = max(1, -(-view.counts["total"] // PLAN_PAGE_SIZE))
        view.page = min(max(page, 1), view.pages)
        view.groups = [_named(group, names, tz) for group in plan_groups(job_id=fulfilment.job_id)]
        view.items = [
            _named(item, names, tz)
            for item in plan_page(job_id=fulfilment.job_id, page=view.page, size=PLAN_PAGE_SIZE)
        ]
        view.policy_errors = sum(g["records"] for g in view.groups if g["reason"] == "policy_error")
    details = request.details or {}
    if request.kind == RequestKind.RECTIFICATION:
        decisions = {d.index: d for d in CorrectionDecision.objects.filter(request=request)}
        view.corrections = [
            {"index": index, "row": row, "decision": decisions.get(index)}
            for index, row in enumerate(details.get("corrections") or [])
        ]
    if request.kind == RequestKind.OBJECTION:
        decisions = {
            d.purpose.key: d
            for d in ObjectionDecision.objects.filter(request=request).select_related("purpose")
        }
        view.objections = [
            {"key": key, "name": names.purposes.get(key, key), "decision": decisions.get(key)}
            for key in dict.fromkeys(details.get("purposes") or [])
        ]
    view.notifications = list(
        RecipientNotification.objects.filter(request=request).select_related("recipient")
    )
    if request.kind == RequestKind.RESTRICTION:
        # The records this request restricted (others' restrictions are theirs to lift).
        view.restricted_records = Record.objects.filter(
            organisation_id=request.organisation_id,
            subject_id__in=request_subject_ids_query(request=request),
            restricted_at__isnull=False,
            restriction_references__contains=[request.reference],
        ).count()
    return view


@dataclass(frozen=True)
class Failure:
    """What the workers gave up on: no personal data, the error is an exception's class name."""

    what: str  # "erasure" (a record-store job) or "package" (an access or portability build)
    attempts: int
    failed_at: dt.datetime | None
    error: str


def fulfilment_failure(*, request: SubjectRequest) -> Failure | None:
    """The request's erasure job or package that failed (one query), or None."""
    if request.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        package = (
            DataPackage.objects.filter(request=request, state=DataPackage.State.FAILED)
            .only("build_attempts", "failed_at", "build_error")
            .first()
        )
        if package is None:
            return None
        return Failure("package", package.build_attempts, package.failed_at, package.build_error)
    job = (
        RecordStoreJob.objects.filter(
            fulfilment__request=request, state=RecordStoreJob.State.FAILED
        )
        .only("attempts", "finished_at", "error")
        .first()
    )
    if job is None:
        return None
    return Failure("erasure", job.attempts, job.finished_at, job.error)


def failed_fulfilment() -> Q:
    """Requests whose erasure job or package the workers gave up on (a filter)."""
    return Q(fulfilment__job__state=RecordStoreJob.State.FAILED) | Q(
        package__state=DataPackage.State.FAILED
    )


def _named(item: dict, names: Names, time_zone: str) -> dict:
    rule = names.rules.get(item.get("rule") or "")
    return {
        **item,
        "category_name": names.categories.get(item["category"], item["category"]),
        "purpose_name": names.purposes.get(item.get("purpose") or "", item.get("purpose") or ""),
        "rule_name": localized_name(rule) if rule else "",
        "until_date": last_day(item.get("until"), time_zone),
    }


def correction_targets(*, request: SubjectRequest) -> list[tuple[str, str]]:
    """Where a correction may go: "record:field" of the records of the subjects the request
    may act on (included and proven; capped).

    Labels name the category, record and field, not the value: the values are
    on the subject's records page, which writes every view to the audit trail.
    """
    records = (
        Record.objects.filter(
            organisation_id=request.organisation_id,
            subject_id__in=request_subject_ids_query(request=request),
        )
        .select_related("category")
        .order_by("category__key", "id")[:TARGET_RECORDS_MAX]
    )
    return [
        (
            f"{record.pk}:{name}",
            f"{localized_name(record.category)} · {record.pk} · {field_label(name)}",
        )
        for record in records
        for name in record.category.fields
    ]


# A fixed number of queries, whatever the number of plan items, decisions or notices:
# `fulfilment_view` reads the plan in SQL, and the users named are read in one query.


def _usernames(ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))


def fulfilment_state_empty(*, failure: Failure | None = None) -> dict:
    """The staff API's fulfilment of a request with nothing planned, proposed or decided."""
    return {
        "failure": failure,
        "erasure_plan": None,
        "corrections": [],
        "correction_targets": [],
        "objections": [],
        "restriction": None,
        "recipient_notifications": [],
    }


def fulfilment_state(*, request: SubjectRequest, plan_page: int = 1) -> dict:
    """What the staff API shows of a request's fulfilment (the plan, decisions, lift, notices)."""
    r = request
    state = fulfilment_state_empty(failure=fulfilment_failure(request=r))
    if r.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        return state
    view = fulfilment_view(request=r, page=plan_page)
    lift = (
        RestrictionLift.objects.filter(request=r).first()
        if r.kind == RequestKind.RESTRICTION
        else None
    )
    decisions = [row["decision"] for row in view.corrections + view.objections]
    users = _usernames(
        [d.decided_by_id for d in decisions if d is not None]
        + [view.fulfilment.plan_approved_by_id if view.fulfilment else None]
        + [lift.requested_by_id if lift else None]
    )
    if view.job is not None:
        state["erasure_plan"] = _erasure_plan_state(view, users)
    state["corrections"].extend(_correction_state(row, users) for row in view.corrections)
    if r.kind == RequestKind.RECTIFICATION:
        state["correction_targets"] = [
            {"target": target, "label": label} for target, label in correction_targets(request=r)
        ]
    state["objections"].extend(_objection_state(row, users) for row in view.objections)
    if r.kind == RequestKind.RESTRICTION:
        state["restriction"] = _restriction_state(view, lift, users)
    state["recipient_notifications"] = [_notification_state(n) for n in view.notifications]
    return state


def _erasure_plan_state(view: FulfilmentView, users: dict[int, str]) -> dict:
    """The staff API's erasure plan: its job, counts, page of items and approval."""
    return {
        "job_id": view.job.pk,
        "state": view.job.state,
        "counts": view.counts,
        "groups": view.groups,
        "items": view.items,
        "page": view.page,
        "pages": view.pages,
        "approved_at": view.fulfilment.plan_approved_at,
        "approved_by": users.get(view.fulfilment.plan_approved_by_id),
        "progress": view.job.progress,
        "attempts": view.job.attempts,
        "max_attempts": settings.JOB_MAX_ATTEMPTS,
        "finished_at": view.job.finished_at,
        "error": view.job.error,
        "late": view.job.result.get("late", 0),
        "moved": view.job.params.get("moved", []),
    }


def _correction_state(row: dict, users: dict[int, str]) -> dict:
    """The staff API's proposed correction, with its decision if one was taken."""
    d = row["decision"]
    return {
        "index": row["index"],
        "wrong": row["row"].get("wrong", ""),
        "correct": row["row"].get("correct", ""),
        "decision": None
        if d is None
        else {
            "accepted": d.accepted,
            "target": f"{d.record_id}:{d.field}" if d.record_id else None,
            "value": d.value,
            "reason": d.reason,
            "decided_by": users.get(d.decided_by_id),
            "decided_at": d.decided_at,
            "applied_at": d.applied_at,
            "withheld": d.withheld,
        },
    }


def _objection_state(row: dict, users: dict[int, str]) -> dict:
    """The staff API's purpose objected to, with its decision if one was taken."""
    d = row["decision"]
    return {
        "purpose": row["key"],
        "name": row["name"],
        "decision": None
        if d is None
        else {
            "compelling_grounds": d.compelling_grounds,
            "reason": d.reason,
            "decided_by": users.get(d.decided_by_id),
            "decided_at": d.decided_at,
        },
    }


def _restriction_state(
    view: FulfilmentView, lift: RestrictionLift | None, users: dict[int, str]
) -> dict:
    """The staff API's restriction: the records it restricted and its lift, if asked for."""
    return {
        "restricted_records": view.restricted_records,
        "lift": None
        if lift is None
        else {
            "reason": lift.reason,
            "requested_by": users.get(lift.requested_by_id),
            "requested_at": lift.requested_at,
            "notified_at": lift.notified_at,
            "lifted_at": lift.lifted_at,
            "records": lift.records,
        },
    }


def _notification_state(n: RecipientNotification) -> dict:
    """The staff API's Art. 19 notice to one recipient."""
    return {
        "recipient": n.recipient.key,
        "recipient_name": localized_name(n.recipient),
        "change": n.change,
        "state": n.state,
        "sent_at": n.sent_at,
    }


def package_state(*, request: SubjectRequest) -> dict | None:
    """What the staff API shows of an access or portability package, or None."""
    r = request
    if r.kind not in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        return None
    package = DataPackage.objects.filter(request=r).select_related("released_by").first()
    if package is None:
        return None
    contents = package.contents or {}
    return {
        "kind": package.kind,
        "format": package.format,
        "state": package.state,
        "built_at": package.built_at,
        "size": package.size,
        "sha256": package.sha256,
        "records": contents.get("records", 0),
        "files": contents.get("files", []),
        "categories": contents.get("categories", []),
        "build_attempts": package.build_attempts,
        "failed_at": package.failed_at,
        "build_error": package.build_error,
        "released_at": package.released_at,
        "released_by": package.released_by.username if package.released_by else None,
        "expires_at": package.expires_at,
        "expired_at": package.expired_at,
        "download_count": package.download_count,
    }
