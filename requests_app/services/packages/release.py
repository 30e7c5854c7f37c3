"""Releasing a package to the person (staff, or automatically), which completes the request.

`package_release` (an approver) or, when the organisation releases
automatically (`auto_release_set`) and the verified e-mail address proved
every included subject, the build itself (`package_release_locked`). Release
completes the request (Art. 12(3): the reply is the data made available) and
queues the e-mail that the data is ready (`package_ready_email_send`).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from requests_app.models import DataPackage, OrganisationSettings, RequestStatus, SubjectRequest
from requests_app.permissions import Action, permission_require
from requests_app.services.emails import email_send, public_url
from requests_app.services.outbox import outbox_enqueue, outbox_message_done, outbox_request_claim
from requests_app.services.packages.common import READY_EMAIL_TASK, State, package_audit
from requests_app.services.workflow import InvalidTransition, StaffActionError, request_close
from retention.audit import log_action
from retention.models import AuditEntry


def auto_release_enabled(organisation_id: int) -> bool:
    return OrganisationSettings.objects.filter(
        organisation_id=organisation_id, auto_release_packages=True
    ).exists()


def auto_release_set(*, organisation, actor, enabled: bool) -> OrganisationSettings:
    """Turn automatic release of the organisation's packages on or off (audited)."""
    with transaction.atomic():
        row, _created = OrganisationSettings.objects.select_for_update().get_or_create(
            organisation=organisation
        )
        row.auto_release_packages = enabled
        row.save(update_fields=["auto_release_packages"])
        log_action(
            action="requests.settings.changed",
            actor_kind=AuditEntry.ActorKind.STAFF if actor else AuditEntry.ActorKind.SYSTEM,
            actor_id=actor.pk if actor else None,
            organisation=organisation,
            object_type="organisation",
            object_id=organisation.pk,
            data={"auto_release_packages": enabled},
        )
    return row


def package_release(*, package: DataPackage, actor) -> DataPackage:
    """Make the package available to the person; this completes the request (Art. 12(3))."""
    permission_require(
        user=actor, action=Action.RELEASE_PACKAGE, organisation_id=package.request.organisation_id
    )
    with transaction.atomic():
        package = DataPackage.objects.select_for_update(of=("self",)).get(pk=package.pk)
        return package_release_locked(package, actor=actor)


def package_release_locked(package: DataPackage, *, actor) -> DataPackage:
    """In the caller's transaction, with the package row locked."""
    request = (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=package.request_id)
    )
    if package.state != State.READY:
        raise StaffActionError(
            _("Only a package that is built and not yet released can be released."),
            code="package_not_ready",
        )
    if request.status != RequestStatus.FULFILLING:
        raise InvalidTransition(
            _("This request is “%(status)s”: its package can no longer be released.")
            % {"status": request.get_status_display()}
        )
    now = timezone.now()
    package.state = State.RELEASED
    package.released_at = now
    package.released_by = actor
    package.expires_at = now + dt.timedelta(days=settings.PACKAGE_TTL_DAYS)
    package.save(update_fields=["state", "released_at", "released_by", "expires_at"])
    with translation.override(request.language):
        until = formats.date_format(
            timezone.localtime(package.expires_at, ZoneInfo(request.organisation.time_zone)),
            "j F Y",
        )
        reply = _(
            "Your data is ready. Download it from the page of your request until %(until)s, "
            "after confirming your e-mail address with a new code."
        ) % {"until": until}
    resolution = request_close(
        request=request, actor=actor, outcome=RequestStatus.COMPLETED, now=now, text=reply
    )
    actor_kind = AuditEntry.ActorKind.STAFF if actor else AuditEntry.ActorKind.SYSTEM
    actor_id = actor.pk if actor else None
    package_audit(
        package,
        request,
        "requests.package.released",
        actor_kind=actor_kind,
        actor_id=actor_id,
        data={"automatic": actor is None, "expires_at": package.expires_at.isoformat()},
    )
    log_action(
        action="requests.request.completed",
        actor_kind=actor_kind,
        actor_id=actor_id,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data={"from": RequestStatus.FULFILLING, "on_time": resolution.on_time},
    )
    outbox_enqueue(task_name=READY_EMAIL_TASK, payload={"request_id": request.pk})
    return package


def package_ready_email_send(*, request_id: int, outbox_message_id: int) -> bool:
    """E-mail the person that their data is ready (the Celery task calls this; once per message)."""
    with transaction.atomic():
        message, request = outbox_request_claim(outbox_message_id, request_id)
        if request is None:
            return False
        package = DataPackage.objects.filter(request=request, state=State.RELEASED).first()
        if package is not None:
            tz = ZoneInfo(request.organisation.time_zone)
            with timezone.override(tz):  # dates in the e-mail: the organisation's time
                email_send(
                    request=request,
                    template="package_ready",
                    context={
                        "package": package,
                        "expires_at": package.expires_at,
                        "file_name": package.download_name(request.reference),
                        "status_url": public_url(
                            reverse(
                                "requests_public:status",
                                kwargs={
                                    "org_slug": request.organisation.slug,
                                    "reference": request.reference,
                                },
                            )
                        ),
                        "proof_minutes": settings.PACKAGE_DOWNLOAD_PROOF_MINUTES,
                    },
                )
        outbox_message_done(message)
    return package is not None
