"""Staff sign-in: password, then the TOTP code (or enrolment); sign-out, re-authenticate, tokens."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from requests_app.models import (
    StaffApiToken,
)
from requests_app.ratelimit import client_ip
from requests_app.services import staff_auth as auth
from requests_app.services.staff_recovery import recovery_code_check as recovery_check
from requests_app.staff import forms as f
from requests_app.staff.session import (
    AUTH_AT,
    PENDING,
    PENDING_SECONDS,
    REAUTH_AT,
    SEEN_AT,
    reauth_redirect,
    recently_authenticated,
    safe_next,
    staff_required,
)
from requests_app.staff.views.recovery import recovery_codes_after_enrolment


def _locked_response(http_request, template, form, exc: auth.LoginLocked):
    if isinstance(exc, auth.LoginUnavailable):  # fails closed: no count, no sign-in
        form.add_error(None, _("Sign-in is briefly unavailable. Please try again in a minute."))
        status = 503
    else:
        form.add_error(
            None,
            _("Too many failed attempts. Try again in %(m)d minutes.")
            % {"m": max(1, (exc.retry_after + 59) // 60)},
        )
        status = 429
    response = render(http_request, template, {"form": form}, status=status)
    response["Retry-After"] = str(exc.retry_after)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def login(http_request):
    """Step 1: user name and password. The answer never tells whether the account exists.

    A guarded account (many failures from anywhere: `staff_auth`) answers only after
    the code step: the password step moves on whatever the password was.
    """
    form = f.LoginForm(http_request.POST or None)
    template = "requests_app/staff/login.html"
    if http_request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        try:
            guarded = auth.login_guarded(username=username)
            user = auth.staff_password_check(
                request=http_request,
                username=username,
                password=form.cleaned_data["password"],
                ip=client_ip(http_request),
            )
        except auth.LoginLocked as exc:
            return _locked_response(http_request, template, form, exc)
        if user is None and not guarded:
            form.add_error(None, _("The user name or password is not right."))
            return render(http_request, template, {"form": form}, status=400)
        if http_request.user.is_authenticated:
            auth_logout(http_request)
        http_request.session.cycle_key()
        http_request.session[PENDING] = {
            "user_id": user.pk if user is not None else None,
            "username": username,
            "backend": user.backend if user is not None else "",
            "at": time.time(),
            "next": safe_next(http_request, reverse("staff:queue")),
            "guarded": guarded,
        }
        if not guarded and auth.totp_device(user=user) is None:
            return redirect("staff:enrol")
        return redirect("staff:login_code")
    return render(http_request, template, {"form": form, "next": http_request.GET.get("next", "")})


def _pending_user(http_request):
    pending = http_request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        http_request.session.pop(PENDING, None)
        return None, None
    user = None
    if pending["user_id"] is not None:
        user = get_user_model().objects.filter(pk=pending["user_id"], is_active=True).first()
    return user, pending


def _complete_login(http_request, user, pending, device):
    user.backend = pending["backend"]
    auth_login(http_request, user)  # a new session id
    otp_login(http_request, device)
    http_request.session.set_expiry(settings.STAFF_SESSION_MAX_HOURS * 3600)
    now = time.time()
    http_request.session[AUTH_AT] = http_request.session[SEEN_AT] = now
    http_request.session[REAUTH_AT] = now
    auth.staff_login_record(user=user)
    return redirect(pending.get("next") or "staff:queue")


def _guarded_failure(http_request, pending):
    """A guarded sign-in failed: one answer for a wrong password or a wrong code."""
    http_request.session.pop(PENDING, None)
    form = f.LoginForm({"username": pending["username"], "password": "-"})  # not shown again
    form.is_valid()
    form.add_error(None, _("The user name, password or code is not right. Please start again."))
    return render(http_request, "requests_app/staff/login.html", {"form": form}, status=400)


@never_cache
@require_http_methods(["GET", "POST"])
def login_code(http_request):
    """Step 2: the TOTP code (for a guarded account, also the moment the password counts)."""
    user, pending = _pending_user(http_request)
    if pending is None:
        return redirect("staff:login")
    guarded = pending.get("guarded", False)
    if not guarded:
        if user is None:
            return redirect("staff:login")
        if auth.totp_device(user=user) is None:
            return redirect("staff:enrol")
    template = "requests_app/staff/login_code.html"
    form = f.LoginCodeForm(http_request.POST or None)
    if http_request.method == "POST" and form.is_valid():
        if user is None:  # guarded, and the password was wrong (counted at step 1)
            return _guarded_failure(http_request, pending)
        # A recovery code (not digits) in place of the TOTP code: services/staff_recovery.py.
        check = auth.totp_code_check if form.cleaned_data["code"].isdigit() else recovery_check
        try:
            device = check(
                user=user,
                username=pending["username"],
                token=form.cleaned_data["code"],
                ip=client_ip(http_request),
            )
        except auth.LoginLocked as exc:
            return _locked_response(http_request, template, form, exc)
        if device is not None:
            return _complete_login(http_request, user, pending, device)
        if guarded:
            return _guarded_failure(http_request, pending)
        form.add_error("code", _("The code is not right, or was already used."))
    return render(http_request, template, {"form": form}, status=400 if form.errors else 200)


@never_cache
@require_http_methods(["GET", "POST"])
def enrol(http_request):
    """First sign-in: set up the authenticator app from a QR code, confirm with a code."""
    user, pending = _pending_user(http_request)
    if user is None:
        return redirect("staff:login")
    if auth.totp_device(user=user) is not None or pending.get("guarded"):
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
            _complete_login(http_request, user, pending, confirmed)
            return recovery_codes_after_enrolment(http_request)
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
    next_url = safe_next(http_request, reverse("staff:queue"))
    if http_request.method == "POST" and form.is_valid():
        try:
            ok = auth.staff_identity_confirm(
                request=http_request,
                user=user,
                code=form.cleaned_data["code"],
                password=form.cleaned_data["password"],
                ip=ip,
            )
        except auth.LoginLocked as exc:
            return _locked_response(http_request, template, form, exc)
        if ok:
            http_request.session.cycle_key()  # a new session id with every grant
            http_request.session[REAUTH_AT] = time.time()
            return redirect(next_url)
        form.add_error(None, _("That was not right."))
    return render(
        http_request, template, {"form": form, "next": next_url}, status=400 if form.errors else 200
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
            return reauth_redirect(http_request, reverse("staff:api_tokens"))
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
