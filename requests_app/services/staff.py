"""The staff actions on a request: each checks its rules, locks the row, logs one audit entry.

Every action:

* checks the actor's role (`requests_app.permissions`) and the request's
  state; an action the state does not allow raises `InvalidTransition` with a
  message staff can read;
* takes the row lock (`SELECT ... FOR UPDATE`) before reading the state, so
  two staff acting at once are serialised and the second sees the first's
  result (exactly one approval, one refusal, ...);
* writes one audit entry (ids and codes, never personal data) and, where the
  person should know, an outbox message that e-mails them in their language.

Allowed transitions:

    new, in_progress    --ask_info-->   awaiting_subject --answer--> in_progress
    new                 --assign-->     in_progress
    new, in_progress    --approve-->    approved  (enqueues the fulfilment job; refused
        while an included match is unproven: `identity_unproven`)
    new, in_progress, awaiting_subject --refuse--> refused
    new, in_progress, approved, fulfilling --complete--> completed
        (not erasure, restriction, access or portability: they complete themselves
        when their fulfilment is done, `fulfilment.fulfilment_completion_check`)
    new, in_progress, awaiting_subject, approved --cancel--> cancelled
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from requests_app import deadlines
from requests_app.models import (
    IdentityCheck,
    IdentityMethod,
    InformationRequest,
    InternalNote,
    ProofMethod,
    RefusalReason,
    RequestApproval,
    RequestResolution,
    RequestStatus,
    RequestSubjectMatch,
    SubjectRequest,
)
from requests_app.permissions import (
    Action,
    match_get_for_request,
    permission_require,
    user_can,
)
from requests_app.selectors.matching import request_matches_unproven
from requests_app.services.emails import email_send, public_url
from requests_app.services.fulfilment import fulfilment_approval_check, fulfilment_completion_check
from requests_app.services.outbox import (
    outbox_enqueue,
    outbox_message_done,
    outbox_request_claim,
)
from requests_app.services.requests import (
    request_clock_pause,
    request_clock_resume,
    request_extend,
)

# The errors every staff action raises (defined with the life cycle they guard).
from requests_app.services.workflow import InvalidTransition as InvalidTransition
from requests_app.services.workflow import (
    StaffActionError,
    request_close,
    request_notify,
    status_require,
    status_set,
)
from retention.audit import log_action
from retention.models import AuditEntry

FULFILMENT_TASK = "requests_app.tasks.fulfilment_start"

S = RequestStatus
ASKABLE = (S.NEW, S.IN_PROGRESS)
ASSIGNABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT, S.APPROVED, S.FULFILLING)
EXTENDABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT, S.APPROVED, S.FULFILLING)
IDENTITY_CHECKABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT)
APPROVABLE = (S.NEW, S.IN_PROGRESS)
REFUSABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT)
COMPLETABLE = (S.NEW, S.IN_PROGRESS, S.APPROVED, S.FULFILLING)
CANCELLABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT, S.APPROVED)
NOTABLE = (*EXTENDABLE, S.COMPLETED, S.REFUSED, S.CANCELLED)


def _locked(request: SubjectRequest) -> SubjectRequest:
    # of=self: lock the request, not the joined organisation (see verification_send).
    rows = SubjectRequest.objects.select_for_update(of=("self",)).select_related("organisation")
    return rows.get(pk=request.pk)


def _audit(request: SubjectRequest, actor, action: str, data: dict | None = None) -> None:
    log_action(
        action=action,
        actor_kind=AuditEntry.ActorKind.STAFF if actor else AuditEntry.ActorKind.SUBJECT,
        actor_id=actor.pk if actor else None,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data=data or {},
    )


# --- Assignment and notes -------------------------------------------------------


def request_assign(*, request: SubjectRequest, actor, assignee) -> SubjectRequest:
    """Give the request to a handler (or above) of its organisation; a new request starts."""
    permission_require(user=actor, action=Action.ASSIGN, organisation_id=request.organisation_id)
    if not user_can(assignee, Action.ASSIGN, request.organisation_id):
        raise StaffActionError(
            _("Requests can only be assigned to handlers of this organisation."),
            code="assignee_not_handler",
        )
    with transaction.atomic():
        request = _locked(request)
        status_require(request, ASSIGNABLE, pgettext("staff action", "assign"))
        now = timezone.now()
        request.assignee = assignee
        request.save(update_fields=["assignee", "updated_at"])
        if request.status == S.NEW:
            status_set(request=request, status=S.IN_PROGRESS, now=now)
        _audit(request, actor, "requests.request.assigned", {"assignee_id": assignee.pk})
    return request


def request_unassign(*, request: SubjectRequest, actor) -> SubjectRequest:
    permission_require(user=actor, action=Action.ASSIGN, organisation_id=request.organisation_id)
    with transaction.atomic():
        request = _locked(request)
        status_require(request, ASSIGNABLE, pgettext("staff action", "unassign"))
        if request.assignee_id is None:
            raise StaffActionError(_("The request is not assigned to anyone."), code="unassigned")
        previous = request.assignee_id
        request.assignee = None
        request.save(update_fields=["assignee", "updated_at"])
        _audit(request, actor, "requests.request.unassigned", {"previous_assignee_id": previous})
    return request


def request_note_add(*, request: SubjectRequest, actor, body: str) -> InternalNote:
    permission_require(user=actor, action=Action.NOTE, organisation_id=request.organisation_id)
    body = (body or "").strip()
    if not body:
        raise StaffActionError(_("A note cannot be empty."), code="empty")
    with transaction.atomic():
        request = _locked(request)
        status_require(request, NOTABLE, pgettext("staff action", "add a note"))
        note = InternalNote.objects.create(
            request=request, author=actor, body=body[:5000], created_at=timezone.now()
        )
        _audit(request, actor, "requests.note.added", {"note_id": note.pk})
    return note


# --- Asking the person ----------------------------------------------------------


def request_information_ask(*, request: SubjectRequest, actor, question: str) -> InformationRequest:
    """Ask the person for information: the clock pauses until they answer."""
    permission_require(user=actor, action=Action.ASK_INFO, organisation_id=request.organisation_id)
    question = (question or "").strip()
    if not question:
        raise StaffActionError(_("Write the question to the person."), code="empty")
    with transaction.atomic():
        request = _locked(request)
        status_require(request, ASKABLE, pgettext("staff action", "ask the person"))
        now = timezone.now()
        asked = InformationRequest.objects.create(
            request=request, question=question[:2000], asked_by=actor, asked_at=now
        )
        request_clock_pause(request=request, reason="information requested", actor_id=actor.pk)
        status_set(request=request, status=S.AWAITING_SUBJECT, now=now)
        _audit(request, actor, "requests.information.requested", {"question_id": asked.pk})
        request_notify(request=request, template="information_requested")
    return asked


def request_information_answer(*, request: SubjectRequest, answer: str) -> InformationRequest:
    """The person's answer: stored with the question, and the clock runs again."""
    answer = (answer or "").strip()
    if not answer:
        raise StaffActionError(_("Write your answer."), code="empty")
    with transaction.atomic():
        request = _locked(request)
        status_require(request, (S.AWAITING_SUBJECT,), pgettext("staff action", "answer"))
        asked = request.questions.filter(answered_at__isnull=True).order_by("-asked_at").first()
        now = timezone.now()
        if asked is not None:
            asked.answer = answer[:5000]
            asked.answered_at = now
            asked.save(update_fields=["answer", "answered_at"])
        request_clock_resume(request=request)
        request.refresh_from_db(fields=["due_date"])
        status_set(request=request, status=S.IN_PROGRESS, now=now)
        _audit(request, None, "requests.information.answered", {"question_id": asked and asked.pk})
    return asked


def request_identity_confirm(
    *, request: SubjectRequest, actor, method: str, note: str = "", match_id=None
) -> IdentityCheck:
    """Record that staff confirmed the identity of one matched subject by another means, and how.

    The check proves that match (`proven_by = identity_check`): from then on the
    request may act on that subject's data. A check proves only the subject it
    names; without a match of this request it is refused.
    """
    permission_require(
        user=actor, action=Action.VERIFY_IDENTITY, organisation_id=request.organisation_id
    )
    if method not in IdentityMethod.values:
        raise StaffActionError(_("Choose how the identity was confirmed."), code="method")
    note = (note or "").strip()
    if method == IdentityMethod.OTHER and not note:
        raise StaffActionError(_("Describe how the identity was confirmed."), code="note")
    with transaction.atomic():
        request = _locked(request)
        status_require(request, IDENTITY_CHECKABLE, pgettext("staff action", "confirm identity"))
        match = (
            RequestSubjectMatch.objects.select_for_update()
            .filter(request=request, pk=_int_or_none(match_id))
            .first()
        )
        if match is None:
            raise StaffActionError(
                _("Choose the matched subject whose identity was confirmed."), code="match"
            )
        check = IdentityCheck.objects.create(
            request=request,
            match=match,
            method=method,
            note=note[:500],
            checked_by=actor,
            checked_at=timezone.now(),
        )
        if match.proven_by == ProofMethod.NONE:
            match.proven_by = ProofMethod.IDENTITY_CHECK
            match.save(update_fields=["proven_by"])
        _audit(
            request,
            actor,
            "requests.identity.confirmed",
            {
                "check_id": check.pk,
                "method": method,
                "match_id": match.pk,
                "subject_id": match.subject_id,
            },
        )
    return check


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _match_set_included(
    *, request: SubjectRequest, actor, match_id, included: bool
) -> RequestSubjectMatch:
    permission_require(
        user=actor, action=Action.VERIFY_IDENTITY, organisation_id=request.organisation_id
    )
    with transaction.atomic():
        request = _locked(request)
        status_require(
            request,
            IDENTITY_CHECKABLE,
            pgettext("staff action", "include a match")
            if included
            else pgettext("staff action", "exclude a match"),
        )
        match = match_get_for_request(request=request, match_id=match_id, lock=True)
        if match.included != included:
            match.included = included
            match.save(update_fields=["included"])
        _audit(
            request,
            actor,
            "requests.match.included" if included else "requests.match.excluded",
            {"match_id": match.pk, "subject_id": match.subject_id},
        )
    return match


def match_include(*, request: SubjectRequest, actor, match_id) -> RequestSubjectMatch:
    """Include a matched subject again (it must still be proven before it is acted on)."""
    return _match_set_included(request=request, actor=actor, match_id=match_id, included=True)


def match_exclude(*, request: SubjectRequest, actor, match_id) -> RequestSubjectMatch:
    """Exclude a matched subject: nothing the request does includes or changes its data."""
    return _match_set_included(request=request, actor=actor, match_id=match_id, included=False)


# --- Decisions ------------------------------------------------------------------


def request_deadline_extend(
    *, request: SubjectRequest, actor, months: int, reason: str
) -> SubjectRequest:
    """Extend by up to two months (Art. 12(3)); the rule lives in `requests_app.deadlines`."""
    permission_require(user=actor, action=Action.EXTEND, organisation_id=request.organisation_id)
    with transaction.atomic():
        locked = _locked(request)
        status_require(locked, EXTENDABLE, pgettext("staff action", "extend"))
        try:
            # Audit entry and the e-mail telling the person why: in request_extend.
            return request_extend(request=locked, months=months, reason=reason, actor_id=actor.pk)
        except deadlines.ExtensionError as exc:
            messages = {
                "too_late": _(
                    "The original due date has passed: the time can no longer be "
                    "extended (Art. 12(3))."
                ),
                "reason_required": _("An extension needs a reason; the person is told it."),
                "too_long": _("An extension is one or two further months."),
                "already_extended": _("The time limit was already extended."),
            }
            raise StaffActionError(messages.get(exc.code, str(exc)), code=exc.code) from exc


def request_refuse(
    *, request: SubjectRequest, actor, reasons: list[str], text: str
) -> RequestResolution:
    """Refuse, telling the person why and that they may complain to IMY or go to court."""
    permission_require(user=actor, action=Action.REFUSE, organisation_id=request.organisation_id)
    reasons = list(dict.fromkeys(reasons or []))
    if not reasons or any(r not in RefusalReason.values for r in reasons):
        raise StaffActionError(_("Choose at least one reason for the refusal."), code="reasons")
    text = (text or "").strip()
    if not text:
        raise StaffActionError(
            _("Explain the refusal to the person in your own words."), code="text"
        )
    with transaction.atomic():
        request = _locked(request)
        status_require(request, REFUSABLE, pgettext("staff action", "refuse"))
        now = timezone.now()
        previous = request.status
        resolution = request_close(
            request=request, actor=actor, outcome=S.REFUSED, now=now, reasons=reasons, text=text
        )
        _audit(
            request,
            actor,
            "requests.request.refused",
            {"reasons": reasons, "from": previous, "on_time": resolution.on_time},
        )
        request_notify(request=request, template="request_refused")
    return resolution


def identities_proven_require(request: SubjectRequest) -> None:
    """Approval refuses while an included match is unproven, and says what to do next."""
    unproven = request_matches_unproven(request=request)
    if unproven:
        raise StaffActionError(
            _(
                "The identity of the matched data subject %(subjects)s is not proven: the "
                "verified e-mail address did not match it, and a typed personnummer or customer "
                "number is no proof. Record an identity check for that subject, exclude the "
                "match, or refuse the request with the reason “Identity could not be confirmed”."
            )
            % {"subjects": ", ".join(str(m.subject_id) for m in unproven)},
            code="identity_unproven",
        )


def request_approve(*, request: SubjectRequest, actor) -> RequestApproval:
    """Approve fulfilment: the request moves on and the fulfilment job is enqueued."""
    permission_require(user=actor, action=Action.APPROVE, organisation_id=request.organisation_id)
    with transaction.atomic():
        request = _locked(request)
        status_require(request, APPROVABLE, pgettext("staff action", "approve"))
        identities_proven_require(request)

        fulfilment_approval_check(request=request)  # e.g. every correction decided
        now = timezone.now()
        status_set(request=request, status=S.APPROVED, now=now)
        message = outbox_enqueue(task_name=FULFILMENT_TASK, payload={"request_id": request.pk})
        approval = RequestApproval.objects.create(
            request=request, approved_by=actor, approved_at=now, outbox_message_id=message.pk
        )
        _audit(
            request,
            actor,
            "requests.request.approved",
            {"kind": request.kind, "outbox_message_id": message.pk},
        )
        request_notify(request=request, template="request_approved")
    return approval


def request_complete(*, request: SubjectRequest, actor, reply: str) -> RequestResolution:
    """Close the request with a reply to the person."""
    permission_require(user=actor, action=Action.COMPLETE, organisation_id=request.organisation_id)
    reply = (reply or "").strip()
    if not reply:
        raise StaffActionError(_("Write the reply to the person."), code="text")
    with transaction.atomic():
        request = _locked(request)
        status_require(request, COMPLETABLE, pgettext("staff action", "complete"))

        # Erasure, restriction, access and portability complete themselves once carried out.
        fulfilment_completion_check(request=request)
        previous = request.status
        resolution = request_close(
            request=request, actor=actor, outcome=S.COMPLETED, now=timezone.now(), text=reply
        )
        _audit(
            request,
            actor,
            "requests.request.completed",
            {"from": previous, "on_time": resolution.on_time},
        )
        request_notify(request=request, template="request_completed")
    return resolution


def request_cancel(*, request: SubjectRequest, actor, note: str = "") -> RequestResolution:
    """Cancel at the person's wish (they asked by e-mail, phone, ...)."""
    permission_require(user=actor, action=Action.CANCEL, organisation_id=request.organisation_id)
    with transaction.atomic():
        request = _locked(request)
        status_require(request, CANCELLABLE, pgettext("staff action", "cancel"))
        previous = request.status
        resolution = request_close(
            request=request,
            actor=actor,
            outcome=S.CANCELLED,
            now=timezone.now(),
            text=(note or "").strip(),
        )
        _audit(request, actor, "requests.request.cancelled", {"from": previous})
        request_notify(request=request, template="request_cancelled")
    return resolution


def assignable_users(*, request: SubjectRequest):
    """Staff of the request's organisation who may be assigned (handler and above)."""
    from retention.models import StaffMembership

    roles = [
        StaffMembership.Role.HANDLER,
        StaffMembership.Role.APPROVER,
        StaffMembership.Role.ADMIN,
    ]
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__organisation_id=request.organisation_id,
            memberships__role__in=roles,
        )
        .order_by("username")
    )


# --- Notifications (the Celery task calls this) -----------------------------------

NOTIFY_TEMPLATES = {
    "information_requested",
    "request_refused",
    "request_approved",
    "request_completed",
    "request_cancelled",
}


def staff_notification_send(*, request_id: int, template: str, outbox_message_id: int) -> bool:
    """E-mail the person about a change, in their language; a repeat of a message sends nothing."""
    if template not in NOTIFY_TEMPLATES:
        raise ValueError(f"unknown notification {template!r}")
    with transaction.atomic():
        message, request = outbox_request_claim(outbox_message_id, request_id)
        if request is None:
            return False
        from django.urls import reverse

        context = {
            "resolution": RequestResolution.objects.filter(request=request).first(),
            "question": request.questions.order_by("-asked_at").first(),
            "status_url": public_url(
                reverse(
                    "requests_public:status",
                    kwargs={"org_slug": request.organisation.slug, "reference": request.reference},
                )
            ),
            "reply_url": public_url(
                reverse(
                    "staff_public:reply",
                    kwargs={"org_slug": request.organisation.slug, "reference": request.reference},
                )
            ),
        }
        resolution = context["resolution"]
        if resolution is not None:
            context["reasons"] = [RefusalReason(r).label for r in resolution.reasons]
        email_send(request=request, template=template, context=context)
        outbox_message_done(message)
    return True


# --- The organisation's staff (admins) ----------------------------------------------------


def _admin_count(organisation_id: int) -> int:
    from retention.models import StaffMembership

    return StaffMembership.objects.filter(
        organisation_id=organisation_id, role=StaffMembership.Role.ADMIN
    ).count()


def membership_set(*, organisation, actor, username: str, role: str):
    """Give an existing user a role in the organisation (or change it); audited."""
    from retention.models import StaffMembership

    permission_require(user=actor, action=Action.MANAGE_STAFF, organisation_id=organisation.pk)
    if role not in StaffMembership.Role.values:
        raise StaffActionError(_("Choose a role."), code="role")
    user = (
        get_user_model().objects.filter(username=(username or "").strip(), is_active=True).first()
    )
    if user is None:
        raise StaffActionError(
            _("There is no active user with that name. A platform administrator creates accounts."),
            code="unknown_user",
        )
    with transaction.atomic():
        # Lock the organisation's memberships: two admins cannot demote each other at once.
        list(StaffMembership.objects.select_for_update().filter(organisation=organisation))
        membership = StaffMembership.objects.filter(organisation=organisation, user=user).first()
        previous = membership.role if membership else None
        if (
            previous == StaffMembership.Role.ADMIN
            and role != previous
            and _admin_count(organisation.pk) <= 1
        ):
            raise StaffActionError(
                _("The organisation must keep at least one admin."), code="last_admin"
            )
        if membership is None:
            membership = StaffMembership.objects.create(
                organisation=organisation, user=user, role=role
            )
        else:
            membership.role = role
            membership.save(update_fields=["role"])
        log_action(
            action="staff.membership.set",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=actor.pk,
            organisation=organisation,
            object_type="user",
            object_id=user.pk,
            data={"role": role, "previous_role": previous},
        )
    return membership


def membership_remove(*, organisation, actor, user_id: int) -> None:
    from retention.models import StaffMembership

    permission_require(user=actor, action=Action.MANAGE_STAFF, organisation_id=organisation.pk)
    with transaction.atomic():
        # Lock the organisation's memberships: two admins cannot demote each other at once.
        list(StaffMembership.objects.select_for_update().filter(organisation=organisation))
        membership = StaffMembership.objects.filter(
            organisation=organisation, user_id=user_id
        ).first()
        if membership is None:
            raise StaffActionError(_("That user is not staff of this organisation."), code="none")
        if membership.role == StaffMembership.Role.ADMIN and _admin_count(organisation.pk) <= 1:
            raise StaffActionError(
                _("The organisation must keep at least one admin."), code="last_admin"
            )
        membership.delete()
        log_action(
            action="staff.membership.removed",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=actor.pk,
            organisation=organisation,
            object_type="user",
            object_id=user_id,
            data={"role": membership.role},
        )
