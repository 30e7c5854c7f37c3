"""An organisation's staff pages (/staff/org/<slug>/): dashboard, register, retention, holds,
sweeps, the audit trail's check and the staff members.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools

from django.contrib import messages
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from requests_app import charts, deadlines
from requests_app.http import action_refused
from requests_app.permissions import (
    Action,
    organisation_get_for_user,
)
from requests_app.selectors import queue as sel
from requests_app.selectors.request_retention import request_retention_overview
from requests_app.services import staff as svc
from requests_app.services.staff_reads import register_export_log
from requests_app.services.sweeps import sweep_request
from requests_app.staff import forms as f
from requests_app.staff.session import (
    organisation_permissions,
    reauth_redirect,
    recently_authenticated,
    staff_required,
)
from retention.audit import audit_check_latest
from retention.models import AuditEntry, LegalHold, SweepRun

AUDIT_CHECK_STALE = dt.timedelta(hours=48)  # the daily check has not run: say so


@staff_required
def dashboard(http_request, org_slug: str):
    organisation = organisation_get_for_user(user=http_request.user, slug=org_slug)
    today = deadlines.local_today(organisation.time_zone)
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
            "charts": charts.dashboard_charts(organisation=organisation, today=today),
            "start": start,
            "end": end,
            "can": organisation_permissions(http_request.user, organisation),
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
    today = deadlines.local_today(organisation.time_zone)
    form = f.PeriodForm(http_request.GET or None)
    start, end = form.period(today)
    register_export_log(organisation=organisation, user=http_request.user, start=start, end=end)
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


@staff_required
@require_GET
def sweep_progress(http_request, org_slug: str):
    """JSON for the retention page's live sweep progress (static/js/progress.js)."""
    organisation = organisation_get_for_user(user=http_request.user, slug=org_slug)
    return JsonResponse(sel.sweep_progress(organisation=organisation))


@staff_required
def retention_overview(http_request, org_slug: str):
    organisation = organisation_get_for_user(user=http_request.user, slug=org_slug)
    from retention.services.subjects import holds_described
    from retention.services.sweeps import records_kept_without_end

    runs = sel.sweep_runs(organisation=organisation)
    last_run = next((row.run for row in runs if row.run.status == SweepRun.Status.COMPLETED), None)
    return render(
        http_request,
        "requests_app/staff/retention.html",
        {
            "organisation_obj": organisation,
            "forecast": sel.expiry_forecast(organisation=organisation),
            "charts": charts.retention_charts(organisation=organisation),
            "policy_gaps": sel.policy_gaps(organisation=organisation),
            "policy_errors": last_run.errors if last_run else [],
            "kept_without_end": records_kept_without_end(organisation=organisation),
            "request_retention": request_retention_overview(organisation=organisation),
            "runs": runs,
            "sweeps_running": any(row.run.status == SweepRun.Status.RUNNING for row in runs),
            "holds": holds_described(organisation=organisation),
            "hold_form": f.HoldForm(categories=organisation.categories.order_by("key")),
            "can": organisation_permissions(http_request.user, organisation),
        },
    )


@staff_required
@require_POST
def sweep_start(http_request, org_slug: str):
    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.START_SWEEP
    )
    sweep_request(organisation=organisation, user=http_request.user)
    messages.success(http_request, _("A sweep is queued; it shows below once it starts."))
    return redirect("staff:retention", org_slug=organisation.slug)


@staff_required
@require_POST
def hold_place(http_request, org_slug: str):
    """Place a hold on the organisation, a category, or one person found by what staff know
    of them (e-mail address, personnummer, customer number: never in a URL or a log)."""
    from retention.services.holds import hold_place as place
    from retention.services.subjects import SubjectLookupError, subject_find

    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.MANAGE_HOLDS
    )
    back = redirect("staff:retention", org_slug=organisation.slug)
    form = f.HoldForm(http_request.POST, categories=organisation.categories.order_by("key"))
    if not form.is_valid():
        if "reason" in form.errors:
            messages.error(http_request, _("The hold needs a reason."))
        else:
            problems = " ".join(e for errors in form.errors.values() for e in errors)
            messages.error(http_request, _("The hold was not placed: %s") % problems)
        return back
    data = form.cleaned_data
    subject = None
    if data["subject_value"]:
        try:
            subject = subject_find(
                organisation=organisation, kind=data["subject_kind"], value=data["subject_value"]
            )
        except SubjectLookupError as exc:
            messages.error(http_request, _("The hold was not placed: %s") % exc.message)
            return back
    category = (
        organisation.categories.filter(key=data["category"]).first() if data["category"] else None
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
        messages.success(
            http_request,
            _("The legal hold is in place for one person: the list of holds shows who.")
            if subject
            else _("The legal hold is in place."),
        )
    return back


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
        return reauth_redirect(http_request, url)
    lift(hold=hold, user=http_request.user)
    messages.success(http_request, _("The legal hold is lifted."))
    return redirect(url)


@staff_required
def audit_status(http_request, org_slug: str):
    organisation = organisation_get_for_user(
        user=http_request.user, slug=org_slug, action=Action.VIEW_AUDIT
    )
    # The last scheduled check of the whole chain (beat, daily): never walked per page
    # view, and shown without counts or ids, which would tell about other organisations.
    check = audit_check_latest()
    stale = check is None or timezone.now() - check.checked_at > AUDIT_CHECK_STALE
    recent = list(AuditEntry.objects.filter(organisation=organisation).order_by("-id")[:50])
    return render(
        http_request,
        "requests_app/staff/audit.html",
        {"organisation_obj": organisation, "check": check, "stale": stale, "recent": recent},
    )


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
            action_refused(http_request, exc, form=form)
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
