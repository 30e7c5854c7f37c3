"""After the build: expiry, resuming builds whose worker died, and building again.

`packages_expire` (beat) deletes the files of expired packages and of those
whose request closed unreleased; `packages_resume` (beat) hands a build whose
worker died to a worker again, and marks it `failed` after JOB_MAX_ATTEMPTS;
`package_retry` (an approver) builds a `failed` package again.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from requests_app.models import OPEN_STATUSES, DataPackage, RequestStatus, SubjectRequest
from requests_app.permissions import Action, permission_require
from requests_app.services.outbox import outbox_enqueue
from requests_app.services.packages.common import BUILD_TASK, State, package_audit, package_path
from requests_app.services.workflow import InvalidTransition
from retention.models import AuditEntry

_PART_MAX_AGE = dt.timedelta(days=1)


def packages_expire(*, now: dt.datetime | None = None, batch_size: int = 100) -> int:
    """Delete the files of expired packages and of packages whose request closed unreleased.

    Batches of rows claimed with `FOR UPDATE SKIP LOCKED` (two sweeps never
    take the same package); each file is deleted before its row is marked, in
    the same transaction, so a row never says "released" about a file that a
    crash left behind. Returns how many packages expired.
    """
    now = now or timezone.now()
    due = Q(state=State.RELEASED, expires_at__lte=now) | Q(
        state__in=[State.BUILDING, State.READY], request__status__in=_closed_statuses()
    )
    expired = 0
    while True:
        with transaction.atomic():
            packages = list(
                DataPackage.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("request__organisation")
                .filter(due)
                .order_by("pk")[:batch_size]
            )
            if not packages:
                break
            for package in packages:
                if package.file_name:
                    package_path(package).unlink(missing_ok=True)
            DataPackage.objects.filter(pk__in=[p.pk for p in packages]).update(
                state=State.EXPIRED, expired_at=now
            )
            for package in packages:
                package_audit(
                    package,
                    package.request,
                    "requests.package.expired",
                    data={
                        "reason": "ttl" if package.state == State.RELEASED else "request_closed",
                        "downloads": package.download_count,
                    },
                )
            expired += len(packages)
    _remove_stale_parts(now)
    return expired


def packages_resume(*, now: dt.datetime | None = None) -> int:
    """Start again the builds whose worker died (beat, every JOB_RECLAIM_INTERVAL).

    A build not finished JOB_LEASE_SECONDS after it started is handed to a
    worker again through the outbox; if it is in fact still running, its
    advisory lock makes the new task a no-op. After JOB_MAX_ATTEMPTS starts the
    package is marked `failed` for staff to see. Returns how many were resumed.
    """
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.JOB_LEASE_SECONDS)
    resumed = 0
    with transaction.atomic():
        candidates = list(
            DataPackage.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("request__organisation")
            .filter(state=State.BUILDING, request__status__in=OPEN_STATUSES)
            .filter(
                Q(build_started_at__lt=stale)
                | Q(build_started_at__isnull=True, created_at__lt=stale)
            )
            .order_by("pk")[:100]
        )
        for package in candidates:
            if package.build_attempts >= settings.JOB_MAX_ATTEMPTS:
                DataPackage.objects.filter(pk=package.pk).update(state=State.FAILED, failed_at=now)
                package_audit(
                    package,
                    package.request,
                    "requests.package.failed",
                    data={"attempts": package.build_attempts, "error": package.build_error},
                )
                continue
            # Not again before another lease has passed.
            DataPackage.objects.filter(pk=package.pk).update(build_started_at=now)
            outbox_enqueue(task_name=BUILD_TASK, payload={"request_id": package.request_id})
            resumed += 1
    return resumed


def package_retry(*, request: SubjectRequest, actor) -> DataPackage:
    """Build a `failed` package again (an approver, once the cause is fixed); audited.

    The package goes back to `building` with its attempts and error cleared and
    a build is queued through the outbox; `packages_resume` starts it again if
    that message is lost. Refused (`InvalidTransition`, code `nothing_failed`)
    when the package has not failed.
    """
    permission_require(
        user=actor, action=Action.RETRY_FULFILMENT, organisation_id=request.organisation_id
    )
    with transaction.atomic():
        request = (
            SubjectRequest.objects.select_for_update(of=("self",))
            .select_related("organisation")
            .get(pk=request.pk)
        )
        package = DataPackage.objects.select_for_update().filter(request=request).first()
        if package is None or package.state != State.FAILED:
            raise InvalidTransition(
                _("The package has not failed, so there is nothing to build again."),
                code="nothing_failed",
            )
        if request.status != RequestStatus.FULFILLING:
            raise InvalidTransition(
                _("This request is “%(status)s”: its package can no longer be built again.")
                % {"status": request.get_status_display()}
            )
        attempts, error = package.build_attempts, package.build_error
        now = timezone.now()
        DataPackage.objects.filter(pk=package.pk).update(
            state=State.BUILDING,
            build_attempts=0,
            build_error="",
            failed_at=None,
            # Not handed out by `packages_resume` before a lease has passed.
            build_started_at=now,
        )
        message = outbox_enqueue(task_name=BUILD_TASK, payload={"request_id": request.pk})
        package_audit(
            package,
            request,
            "requests.package.retried",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=actor.pk,
            data={"attempts": attempts, "error": error, "outbox_message_id": message.pk},
        )
        package.refresh_from_db()
    return package


def _closed_statuses() -> list[str]:
    return [s for s in RequestStatus.values if s not in OPEN_STATUSES]


def _remove_stale_parts(now: dt.datetime) -> None:
    """Half-written files of builds whose worker died (a new build starts a new file)."""
    directory = Path(settings.PACKAGE_DIR)
    if not directory.is_dir():
        return
    cutoff = (now - _PART_MAX_AGE).timestamp()
    for part in directory.glob(".*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
