"""The staff pages (/staff/): sign-in with TOTP, the queue, a request and its actions, reports.

Every page but the sign-in steps is wrapped in `staff_required`: a user
signed in with password *and* a TOTP code (django-otp), within the idle and
absolute session limits, and a member of at least one organisation. Objects
are fetched with the helpers of `requests_app.permissions`, which answer 404
for other organisations' objects. Destructive actions need a recent
re-authentication (`STAFF_REAUTH_MINUTES`).
"""

from __future__ import annotations

import csv
import functools
import itertools
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from requests_app import forms_staff as f
from requests_app import staff_selectors as sel
from requests_app.models import (
    ClockPause,
    DataPackage,
    RefusalReason,
    RequestSubjectMatch,
    StaffApiToken,
)
from requests_app.permissions import (
    REAUTH_ACTIONS,
    Action,
    organisation_get_for_user,
    request_get_for_user,
    staff_organisations,
    staff_roles,
    user_can,
)
from requests_app.ratelimit import client_ip
from requests_app.services import packages
from requests_app.services import staff as svc
from requests_app.services import staff_auth as auth
from requests_app.services.fulfilment import COMPLETED_BY_FULFILMENT
from retention.audit import audit_chain_verify, log_action
from retention.models import AuditEntry, LegalHold, Record, SweepRun

PENDING = "staff_pending"  # {"user_id", "backend", "at"}: password right, code still to come
AUTH_AT, SEEN_AT, REAUTH_AT = "staff_auth_at", "staff_seen_at", "staff_reauth_at"
PENDING_SECONDS = 300
PAGE_SIZE = 50


# --- Session rules ------------------------------------------------------------------


def staff_session_expired(session) -> bool:
    now = time.time()
    auth_at, seen_at = session.get(AUTH_AT), session.get(SEEN_AT)
    if auth_at is None or seen_at is None:
        return True
    return (
        now - seen_at > settings.STAFF_SESSION_IDLE_MINUTES * 60
        or now - auth_at > settings.STAFF_SESSION_MAX_HOURS * 3600
    )


def staff_required(view):
    """Signed in with both factors, session still valid, member of an organisation."""

    @functools.wraps(view)
    @never_cache
    def wrapper(http_request, *args, **kwargs):
        user = http_request.user
        login_url = reverse("staff:login") + "?next=" + http_request.get_full_path()
        if not user.is_authenticated or not user.is_verified():
            return redirect(login_url)
        if staff_session_expired(http_request.session):
            auth_logout(http_request)
            messages.info(http_request, _("Your session has ended. Please sign in again."))
            return redirect(login_url)
        if not staff_roles(user):
            raise PermissionDenied
        http_request.session[SEEN_AT] = time.time()
        return view(http_request, *args, **kwargs)

    return wrapper


def recently_authenticated(http_request) -> bool:
    at = http_request.session.get(REAUTH_AT)
    return at is not None and time.time() - at <= settings.STAFF_REAUTH_MINUTES * 60


def _reauth_redirect(http_request, next_url: str):
    messages.warning(
        http_request, _("Please confirm it is you, then repeat the action (it was not done).")
    )
    return redirect(reverse("staff:reauth") + "?next=" + next_url)


def _safe_next(http_request, default: str) -> str:
    target = http_request.POST.get("next") or http_request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={http_request.get_host()}, require_https=http_request.is_secure()
    ):
        return target
    return default


# --- Sign-in --------------------------------------------------------------------------


def _locked_response(http_request, template, form, exc: auth.LoginLocked):
    form.add_error(
        None,
        _("Too many failed attempts. Try again in %(m)d minutes.")
        % {"m": max(1, (exc.retry_after + 59) // 60)},
    )
    response = render(http_request, template, {"form": form}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def login(http_request):
    """Step 1: user name and password. The answer never tells whether the account exists."""
    form = f.LoginForm(http_request.POST or None)
    template = "requests_app/staff/login.html"
    if http_request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        try:
            user = auth.staff_password_check(
                request=http_request,
                username=username,
                password=form.cleaned_data["password"],
                ip=client_ip(http_request),
            )
        except auth.LoginLocked as exc:
            return _locked_response(http_request, template, form, exc)
        if user is None:
            form.add_error(None, _("The user name or password is not right."))
            return render(http_request, template, {"form": form}, status=400)
        if http_request.user.is_authenticated:
            auth_logout(http_request)
        http_request.session.cycle_key()
        http_request.session[PENDING] = {
            "user_id": user.pk,
            "username": username,
            "backend": user.backend,
            "at": time.time(),
            "next": _safe_next(http_request, reverse("staff:queue")),
        }
        if auth.totp_device(user=user) is None:
            return redirect("staff:enrol")
        return redirect("staff:login_code")
    return render(http_request, template, {"form": form, "next": http_request.GET.get("next", "")})


def _pending_user(http_request):
    pending = http_request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        http_request.session.pop(PENDING, None)
        return None, None
    user = get_user_model().objects.filter(pk=pending["user_id"], is_active=True).first()
    return user, pending


def _complete_login(http_request, user, pending, device):
    user.backend = pending["backend"]
    auth_login(http_request, user)  # a new session id
    otp_login(http_request, device)
    now = time.time()
    http_request.session[AUTH_AT] = http_request.session[SEEN_AT] = now
    http_request.session[REAUTH_AT] = now
    auth.staff_login_record(user=user)
    return redirect(pending.get("next") or "staff:queue")


@never_cache
@require_http_methods(["GET", "POST"])
def login_code(http_request):
    """Step 2: the TOTP code."""
    user, pending = _pending_user(http_request)
    if user is None:
        return redirect("staff:login")
    if auth.totp_device(user=user) is None:
        return redirect("staff:enrol")
    template = "requests_app/staff/login_code.html"
    form = f.CodeForm(http_request.POST or None)
    if http_request.method == "POST" and form.is_valid():
        try:
            device = auth.totp_code_check(
                user=user,
                username=pending["username"],
                token=form.cleaned_data["code"],
                ip=client_ip(http_request),
            )
        except auth.LoginLocked as exc:
            return _locked_response(http_request, template, form, exc)
        if device is not None:
            return _complete_login(http_request, user, pending, device)
        form.add_error("code", _("The code is not right, or was already used."))
    return render(http_request, template, {"form": form}, status=400 if form.errors else 200)


@never_cache
@require_http_methods(["GET", "POST"])
def enrol(http_request):
    """First sign-in: set up the authenticator app from a QR code, confirm with a code."""
    user, pending = _pending_user(http_request)
    if user is None:
        return redirect("staff:login")
    if auth.totp_device(user=user) is not None:
        return redirect("staff:login_code")
    device = auth.totp_enrolment_start(user=user)
    template = "requests_app/staff/enrol.html"
    form = f.CodeForm(http_request.POST or None)
    if http_request.method == "POST" and form.is_valid():
        try:
            confirmed = auth.totp_enrolment_confirm(
                user=user,
                username=pending["username"],
                token=form.cleaned_data["code"],
                ip=client_ip(http_request),
            )
        except auth.LoginLocked as exc:
            return _locked_response(http_request, template, form, exc)
        if confirmed is not None:
            return _complete_login(http_request, user, pending, confirmed)
        form.add_error("code", _("The code is not right. Check the time on your phone."))
    return render(
        http_request,
        template,
        {
            "form": form,
            "qr_svg": auth.totp_qr_svg(device=device),
            "secret": auth.totp_secret_base32(device=device),
        },
        status=400 if form.errors else 200,
    )


@require_POST
def logout(http_request):
    auth_logout(http_request)
    messages.info(http_request, _("You are signed out."))
    return redirect("staff:login")


@staff_required
@require_http_methods(["GET", "POST"])
def reauth(http_request):
    """Confirm it is you (password or a TOTP code) before a destructive action."""
    form = f.ReauthForm(http_request.POST or None)
    user = http_request.user
    ip = client_ip(http_request)
    template = "requests_app/staff/reauth.html"
    next_url = _safe_next(http_request, reverse("staff:queue"))
    if http_request.method == "POST" and form.is_valid():
        try:
            ok = False
            if form.cleaned_data["code"]:
                ok = (
                    auth.totp_code_check(
                        user=user,
                        username=user.get_username(),
                        token=form.cleaned_data["code"],
                        ip=ip,
                    )
                    is not None
                )
            elif form.cleaned_data["password"]:
                ok = (
                    auth.staff_password_check(
                        request=http_request,
                        username=user.get_username(),
                        password=form.cleaned_data["password"],
                        ip=ip,
                    )
                    is not None
                )
        except auth.LoginLocked as exc:
            return _locked_response(http_request, template, form, exc)
        if ok:
            http_request.session[REAUTH_AT] = time.time()
            return redirect(next_url)
        form.add_error(None, _("That was not right."))
    return render(
        http_request, template, {"form": form, "next": next_url}, status=400 if form.errors else 200
    )


# --- The queue ------------------------------------------------------------------------


@staff_required
def queue(http_request):
    organisations = list(staff_organisations(http_request.user))
    form = f.QueueFilterForm(http_request.GET or None, organisations=organisations)
    data = form.cleaned_data if form.is_valid() else {}
    by_slug = {o.slug: o for o in organisations}
    org = by_slug.get(data.get("organisation") or "")
    today = sel.local_today()
    requests = sel.queue_requests(
        user=http_request.user,
        organisation_id=org.pk if org else None,
        kind=data.get("kind") or "",
        status=data.get("status") or "open",
        assignee=data.get("assignee") or "",
        due_within=data.get("due_within"),
        overdue=bool(data.get("overdue")),
        awaiting=bool(data.get("awaiting")),
        q=data.get("q") or "",
        today=today,
    )
    page = Paginator(requests, PAGE_SIZE).get_page(http_request.GET.get("page"))
    for r in page.object_list:
        r.days_left = (r.due_date - today).days
        r.days_overdue = max(0, -r.days_left)
    params = http_request.GET.copy()
    params.pop("page", None)
    return render(
        http_request,
        "requests_app/staff/queue.html",
        {
            "form": form,
            "page": page,
            "params": params.urlencode(),
            "today": today,
            "organisations": organisations,
        },
    )


# --- A request --------------------------------------------------------------------------


@dataclass
class ActionSpec:
    action: Action
    form: type
    label: Any
    run: Any
    done: Any


ACTIONS: dict[str, ActionSpec] = {
    "assign": ActionSpec(
        Action.ASSIGN,
        f.AssignForm,
        gettext_lazy("Assign"),
        lambda r, u, d: svc.request_assign(request=r, actor=u, assignee=d["assignee"]),
        gettext_lazy("The request is assigned."),
    ),
    "unassign": ActionSpec(
        Action.ASSIGN,
        f.ApproveForm,
        gettext_lazy("Unassign"),
        lambda r, u, d: svc.request_unassign(request=r, actor=u),
        gettext_lazy("The request is unassigned."),
    ),
    "note": ActionSpec(
        Action.NOTE,
        f.NoteForm,
        gettext_lazy("Add note"),
        lambda r, u, d: svc.request_note_add(request=r, actor=u, body=d["body"]),
        gettext_lazy("The note is saved."),
    ),
    "ask": ActionSpec(
        Action.ASK_INFO,
        f.AskInfoForm,
        gettext_lazy("Ask the person"),
        lambda r, u, d: svc.request_information_ask(request=r, actor=u, question=d["question"]),
        gettext_lazy("The question is sent and the clock is paused until the person answers."),
    ),
    "identity": ActionSpec(
        Action.VERIFY_IDENTITY,
        f.IdentityForm,
        gettext_lazy("Confirm identity"),
        lambda r, u, d: svc.request_identity_confirm(
            request=r, actor=u, method=d["method"], note=d["note"]
        ),
        gettext_lazy("The identity check is recorded."),
    ),
    "extend": ActionSpec(
        Action.EXTEND,
        f.ExtendForm,
        gettext_lazy("Extend"),
        lambda r, u, d: svc.request_deadline_extend(
            request=r, actor=u, months=d["months"], reason=d["reason"]
        ),
        gettext_lazy("The time limit is extended and the person is told why."),
    ),
    "refuse": ActionSpec(
        Action.REFUSE,
        f.RefuseForm,
        gettext_lazy("Refuse"),
        lambda r, u, d: svc.request_refuse(
            request=r, actor=u, reasons=d["reasons"], text=d["text"]
        ),
        gettext_lazy("The request is refused and the person is told why and how to complain."),
    ),
    "approve": ActionSpec(
        Action.APPROVE,
        f.ApproveForm,
        gettext_lazy("Approve"),
        lambda r, u, d: svc.request_approve(request=r, actor=u),
        gettext_lazy("The request is approved and its fulfilment is queued."),
    ),
    "complete": ActionSpec(
        Action.COMPLETE,
        f.CompleteForm,
        gettext_lazy("Complete"),
        lambda r, u, d: svc.request_complete(request=r, actor=u, reply=d["reply"]),
        gettext_lazy("The request is completed and the reply is sent."),
    ),
    "cancel": ActionSpec(
        Action.CANCEL,
        f.CancelForm,
        gettext_lazy("Cancel"),
        lambda r, u, d: svc.request_cancel(request=r, actor=u, note=d["note"]),
        gettext_lazy("The request is cancelled."),
    ),
}


def _new_form(name: str, subject_request, data=None):
    # The page holds one form per action: ids carry the action so that labels stay unique.
    auto_id = f"id_{name}_%s"
    if name == "assign":
        return f.AssignForm(
            data, assignees=svc.assignable_users(request=subject_request), auto_id=auto_id
        )
    return ACTIONS[name].form(data, auto_id=auto_id)


def _detail_context(http_request, subject_request, bound: dict | None = None) -> dict:
    user = http_request.user
    org_id = subject_request.organisation_id
    bound = bound or {}
    # Erasure, restriction, access and portability complete themselves when carried out
    # (by hand: 409), so their page has no "complete" form, only a line saying so; a
    # refused POST still shows its form with the reason.
    completes_itself = subject_request.kind in COMPLETED_BY_FULFILMENT
    forms = {
        name: bound[name] if name in bound else _new_form(name, subject_request)
        for name, spec in ACTIONS.items()
        if user_can(user, spec.action, org_id)
        and not (name == "complete" and completes_itself and name not in bound)
    }
    matches = list(
        RequestSubjectMatch.objects.filter(request=subject_request).order_by("subject_id", "method")
    )
    resolution = getattr(subject_request, "resolution", None)
    return {
        "r": subject_request,
        "organisation_name": subject_request.organisation.display_name,
        "days_left": sel.days_left(subject_request),
        "days_overdue": max(0, -sel.days_left(subject_request)),
        "forms": forms,
        "completes_itself": completes_itself
        and "complete" not in forms
        and subject_request.status in svc.COMPLETABLE
        and user_can(user, Action.COMPLETE, org_id),
        "matches": matches,
        "summary": sel.request_records_summary(request=subject_request),
        "pauses": list(ClockPause.objects.filter(request=subject_request)),
        "notes": list(subject_request.notes.select_related("author")),
        "questions": list(subject_request.questions.all()),
        "identity_checks": list(subject_request.identity_checks.select_related("checked_by")),
        "resolution": resolution,
        "refusal_reasons": [RefusalReason(r).label for r in resolution.reasons]
        if resolution
        else [],
        "timeline": sel.request_timeline(request=subject_request),
        "can_view_records": user_can(user, Action.VIEW_RECORDS, org_id),
        "reauth_fresh": recently_authenticated(http_request),
        "reauth_actions": [a.value for a in REAUTH_ACTIONS],
        "ff": _fulfilment_context(http_request, subject_request),
        "package": DataPackage.objects.filter(request=subject_request)
        .select_related("released_by")
        .first(),
        "can_review_package": user_can(user, Action.REVIEW_PACKAGE, org_id),
        "can_release_package": user_can(user, Action.RELEASE_PACKAGE, org_id),
        "package_ttl_days": settings.PACKAGE_TTL_DAYS,
    }


def _fulfilment_context(http_request, subject_request) -> dict:
    from requests_app.views.staff_fulfilment import fulfilment_context

    return fulfilment_context(http_request, subject_request)


def _fetch(http_request, reference, action=Action.VIEW):
    from requests_app.models import SubjectRequest

    return request_get_for_user(
        user=http_request.user,
        reference=reference,
        action=action,
        queryset=SubjectRequest.objects.select_related("resolution", "approval", "linked_to"),
    )


@staff_required
def detail(http_request, reference: str):
    subject_request = _fetch(http_request, reference)
    return render(
        http_request,
        "requests_app/staff/detail.html",
        _detail_context(http_request, subject_request),
    )


@staff_required
@require_POST
def request_action(http_request, reference: str, name: str):
    spec = ACTIONS.get(name)
    if spec is None:
        raise Http404
    subject_request = _fetch(http_request, reference, spec.action)
    detail_url = reverse("staff:detail", kwargs={"reference": subject_request.reference})
    if spec.action in REAUTH_ACTIONS and not recently_authenticated(http_request):
        return _reauth_redirect(http_request, detail_url)
    form = _new_form(name, subject_request, http_request.POST)
    status = 400
    if form.is_valid():
        try:
            spec.run(subject_request, http_request.user, form.cleaned_data)
        except svc.StaffActionError as exc:
            form.add_error(None, exc.message)
            status = 409
        else:
            messages.success(http_request, spec.done)
            return redirect(detail_url)
    subject_request = _fetch(http_request, reference)
    return render(
        http_request,
        "requests_app/staff/detail.html",
        _detail_context(http_request, subject_request, bound={name: form}),
        status=status,
    )


@staff_required
def subject_records(http_request, reference: str, subject_id: int):
    """A matched subject's records; every view is written to the audit trail."""
    subject_request = _fetch(http_request, reference, Action.VIEW_RECORDS)
    if not RequestSubjectMatch.objects.filter(
        request=subject_request, subject_id=subject_id
    ).exists():
        raise Http404
    records = list(
        Record.objects.filter(
            organisation_id=subject_request.organisation_id, subject_id=subject_id
        )
        .select_related("category", "purpose", "rule")
        .order_by("category__key", "id")[:500]
    )
    log_action(
        action="requests.subject.records_viewed",
        actor_kind=AuditEntry.ActorKind.STAFF,
        actor_id=http_request.user.pk,
        organisation=subject_request.organisation,
        object_type="subject_request",
        object_id=subject_request.pk,
        data={"subject_id": subject_id, "records": len(records)},
    )
    return render(
        http_request,
        "requests_app/staff/records.html",
        {"r": subject_request, "subject_id": subject_id, "records": records},
    )


# --- The access or portability package of a request --------------------------------------


def _package(http_request, reference, action):
    subject_request = _fetch(http_request, reference, action)
    package = (
        DataPackage.objects.select_related("request__organisation")
        .filter(request=subject_request)
        .first()
    )
    if package is None:
        raise Http404
    return subject_request, package


def _package_response(chunks, *, content_type: str, disposition: str):
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_required
@require_GET
def package_file(http_request, reference: str):
    """Download the package as the person will get it (handler and up; audited)."""
    subject_request, package = _package(http_request, reference, Action.REVIEW_PACKAGE)
    try:
        chunks = packages.package_staff_open(package=package, actor=http_request.user)
    except packages.PackageUnavailable:
        raise Http404 from None
    name = package.download_name(subject_request.reference)
    return _package_response(
        chunks, content_type=package.content_type, disposition=f'attachment; filename="{name}"'
    )


# The report is our own HTML, its data escaped; still, shown inside the staff site it may
# run nothing, load nothing and reach nothing: a sandboxed page with only its inline style.
REPORT_PREVIEW_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"


@staff_required
@require_GET
def package_preview(http_request, reference: str):
    """Read the access report in the browser before releasing it (handler and up; audited)."""
    subject_request, package = _package(http_request, reference, Action.REVIEW_PACKAGE)
    try:
        chunks = packages.package_staff_open(
            package=package, actor=http_request.user, part="report"
        )
    except packages.PackageUnavailable:
        raise Http404 from None
    response = _package_response(
        chunks, content_type="text/html; charset=utf-8", disposition="inline"
    )
    response["Content-Security-Policy"] = REPORT_PREVIEW_CSP
    return response


@staff_required
@require_POST
def package_release(http_request, reference: str):
    """Release the package to the person: completes the request and e-mails them."""
    subject_request, package = _package(http_request, reference, Action.RELEASE_PACKAGE)
    detail_url = reverse("staff:detail", kwargs={"reference": subject_request.reference})
    if not recently_authenticated(http_request):
        return _reauth_redirect(http_request, detail_url)
    try:
        packages.package_release(package=package, actor=http_request.user)
    except svc.StaffActionError as exc:
        messages.error(http_request, exc.message)
    else:
        messages.success(
            http_request,
            _("The package is released: the request is completed and the person is told."),
        )
    return redirect(detail_url)


# --- Reports ------------------------------------------------------------------------------


@staff_required
def dashboard(http_request, org_slug: str):
    organisation = organisation_get_for_user(user=http_request.user, slug=org_slug)
    today = sel.local_today(organisation.time_zone)
    form = f.PeriodForm(http_request.GET or None)
    start, end = form.period(today)
    report = sel.organisation_report(organisation=organisation, start=start, end=end, today=today)
    return render(
        http_request,
        "requests_app/staff/dashboard.html",
        {
            "organisation_obj": organisation,
            "form": form,
            "report": report,
            "start": start,
            "end": end,
            "can": _org_permissions(http_request.user, organisation),
        },
    )


class _Echo:
    def write(self, value):
        return value


@staff_required
def register_csv(http_request, org_slug: str):
    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.EXPORT
    )
    today = sel.local_today(organisation.time_zone)
    form = f.PeriodForm(http_request.GET or None)
    start, end = form.period(today)
    log_action(
        action="requests.register.exported",
        actor_kind=AuditEntry.ActorKind.STAFF,
        actor_id=http_request.user.pk,
        organisation=organisation,
        object_type="organisation",
        object_id=organisation.pk,
        data={"start": start.isoformat(), "end": end.isoformat()},
    )
    writer = csv.writer(_Echo())
    rows = sel.register_rows(organisation=organisation, start=start, end=end)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in itertools.chain([sel.REGISTER_COLUMNS], rows)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="register-{organisation.slug}-{start}-{end}.csv"'
    )
    return response


def _org_permissions(user, organisation) -> dict:
    return {a.value: user_can(user, a, organisation.pk) for a in Action}


# --- Retention: holds, expiry forecast, sweeps -----------------------------------------------


@staff_required
def retention_overview(http_request, org_slug: str):
    organisation = organisation_get_for_user(user=http_request.user, slug=org_slug)
    from retention.services.holds import holds_active

    runs = list(SweepRun.objects.filter(organisation=organisation).order_by("-started_at")[:20])
    return render(
        http_request,
        "requests_app/staff/retention.html",
        {
            "organisation_obj": organisation,
            "forecast": sel.expiry_forecast(organisation=organisation),
            "runs": runs,
            "holds": list(holds_active(organisation=organisation)),
            "hold_form": f.HoldForm(categories=organisation.categories.order_by("key")),
            "can": _org_permissions(http_request.user, organisation),
        },
    )


@staff_required
@require_POST
def sweep_start(http_request, org_slug: str):
    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.START_SWEEP
    )
    user_id = http_request.user.pk

    def _enqueue():
        from retention.tasks import sweep_organisation

        sweep_organisation.delay(organisation.pk, trigger=SweepRun.Trigger.STAFF, user_id=user_id)

    with transaction.atomic():
        log_action(
            action="retention.sweep.requested",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=user_id,
            organisation=organisation,
            object_type="organisation",
            object_id=organisation.pk,
        )
        transaction.on_commit(_enqueue)
    messages.success(http_request, _("A sweep is queued; it shows below once it starts."))
    return redirect("staff:retention", org_slug=organisation.slug)


@staff_required
@require_POST
def hold_place(http_request, org_slug: str):
    from retention.services.holds import hold_place as place

    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.MANAGE_HOLDS
    )
    form = f.HoldForm(http_request.POST, categories=organisation.categories.order_by("key"))
    if form.is_valid():
        data = form.cleaned_data
        subject = None
        if data["subject_id"]:
            subject = organisation.subjects.filter(pk=data["subject_id"]).first()
            if subject is None:
                messages.error(http_request, _("No such subject in this organisation."))
                return redirect("staff:retention", org_slug=organisation.slug)
        category = (
            organisation.categories.filter(key=data["category"]).first()
            if data["category"]
            else None
        )
        try:
            place(
                organisation=organisation,
                reason=data["reason"],
                user=http_request.user,
                subject=subject,
                category=category,
                ends_at=data["ends_at"],
            )
        except ValueError as exc:
            messages.error(http_request, str(exc))
        else:
            messages.success(http_request, _("The legal hold is in place."))
    else:
        messages.error(http_request, _("The hold needs a reason."))
    return redirect("staff:retention", org_slug=organisation.slug)


@staff_required
@require_POST
def hold_lift(http_request, org_slug: str, hold_id: int):
    from retention.services.holds import hold_lift as lift

    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.MANAGE_HOLDS
    )
    hold = LegalHold.objects.filter(organisation=organisation, pk=hold_id).first()
    if hold is None:
        raise Http404
    url = reverse("staff:retention", kwargs={"org_slug": organisation.slug})
    if not recently_authenticated(http_request):
        return _reauth_redirect(http_request, url)
    lift(hold=hold, user=http_request.user)
    messages.success(http_request, _("The legal hold is lifted."))
    return redirect(url)


# --- Audit trail, API tokens ------------------------------------------------------------------


@staff_required
def audit_status(http_request, org_slug: str):
    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.VIEW_AUDIT
    )
    status = audit_chain_verify()
    recent = list(AuditEntry.objects.filter(organisation=organisation).order_by("-id")[:50])
    return render(
        http_request,
        "requests_app/staff/audit.html",
        {"organisation_obj": organisation, "status": status, "recent": recent},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def api_tokens(http_request):
    """Issue and revoke personal API tokens (only in a recently re-authenticated session)."""
    user = http_request.user
    form = f.TokenForm(http_request.POST or None)
    new_token = None
    if http_request.method == "POST":
        if not recently_authenticated(http_request):
            return _reauth_redirect(http_request, reverse("staff:api_tokens"))
        if "revoke" in http_request.POST:
            revoke_id = http_request.POST.get("revoke", "")
            if revoke_id.isdigit():
                auth.api_token_revoke(user=user, token_id=int(revoke_id))
            messages.success(http_request, _("The token is revoked."))
            return redirect("staff:api_tokens")
        if form.is_valid():
            new_token, _row = auth.api_token_issue(user=user, name=form.cleaned_data["name"])
            form = f.TokenForm()
    tokens = StaffApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by(
        "-created_at"
    )
    response = render(
        http_request,
        "requests_app/staff/api_tokens.html",
        {"form": form, "tokens": tokens, "new_token": new_token, "now": timezone.now()},
    )
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def staff_members(http_request, org_slug: str):
    """The organisation's staff and their roles (admins)."""
    from retention.models import StaffMembership

    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.MANAGE_STAFF
    )
    form = f.MembershipForm(http_request.POST or None)
    if http_request.method == "POST":
        try:
            if http_request.POST.get("remove", "").isdigit():
                svc.membership_remove(
                    organisation=organisation,
                    actor=http_request.user,
                    user_id=int(http_request.POST["remove"]),
                )
                messages.success(http_request, _("The user is no longer staff here."))
                return redirect("staff:members", org_slug=organisation.slug)
            if form.is_valid():
                svc.membership_set(
                    organisation=organisation, actor=http_request.user, **form.cleaned_data
                )
                messages.success(http_request, _("The role is saved."))
                return redirect("staff:members", org_slug=organisation.slug)
        except svc.StaffActionError as exc:
            form.add_error(None, exc.message)
    members = (
        StaffMembership.objects.filter(organisation=organisation)
        .select_related("user")
        .order_by("user__username")
    )
    return render(
        http_request,
        "requests_app/staff/members.html",
        {"organisation_obj": organisation, "members": members, "form": form},
        status=400 if form.errors else 200,
    )
