"""The staff session: signed in with both factors, within its limits, recently re-authenticated.

Every staff page but the sign-in steps is wrapped in `staff_required`: a user
signed in with password *and* a TOTP code (django-otp), within the idle and
absolute session limits (`STAFF_SESSION_IDLE_MINUTES`, `STAFF_SESSION_MAX_HOURS`),
and a member of at least one organisation. The page is in the member's own language
when they chose one (`services.staff_preferences`). Destructive actions need a recent
re-authentication (`STAFF_REAUTH_MINUTES`, `recently_authenticated`). The Django
admin applies the same limits (`portal/admin.py`).
"""

from __future__ import annotations

import functools
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from requests_app.permissions import (
    Action,
    request_get_for_user,
    staff_roles,
    user_can,
)
from requests_app.services.staff_preferences import staff_language

PENDING = "staff_pending"  # {"user_id", "backend", "at"}: password right, code still to come


AUTH_AT, SEEN_AT, REAUTH_AT = "staff_auth_at", "staff_seen_at", "staff_reauth_at"


PENDING_SECONDS = 300


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
        # The target URL-encoded (redirect_to_login): queue filters survive signing in.
        login_url = reverse("staff:login")
        if not user.is_authenticated or not user.is_verified():
            return redirect_to_login(http_request.get_full_path(), login_url)
        if staff_session_expired(http_request.session):
            auth_logout(http_request)
            messages.info(http_request, _("Your session has ended. Please sign in again."))
            return redirect_to_login(http_request.get_full_path(), login_url)
        if not staff_roles(user):
            raise PermissionDenied
        http_request.session[SEEN_AT] = time.time()
        if language := staff_language(user=user):  # their own setting beats the browser's
            translation.activate(language)
            http_request.LANGUAGE_CODE = language
        return view(http_request, *args, **kwargs)

    return wrapper


def recently_authenticated(http_request) -> bool:
    at = http_request.session.get(REAUTH_AT)
    return at is not None and time.time() - at <= settings.STAFF_REAUTH_MINUTES * 60


def reauth_redirect(http_request, next_url: str):
    messages.warning(
        http_request, _("Please confirm it is you, then repeat the action (it was not done).")
    )
    return redirect_to_login(next_url, reverse("staff:reauth"))


def safe_next(http_request, default: str) -> str:
    target = http_request.POST.get("next") or http_request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={http_request.get_host()}, require_https=http_request.is_secure()
    ):
        return target
    return default


def request_fetch(http_request, reference, action=Action.VIEW):
    from requests_app.models import SubjectRequest

    return request_get_for_user(
        user=http_request.user,
        reference=reference,
        action=action,
        queryset=SubjectRequest.objects.select_related("resolution", "approval", "linked_to"),
    )


def organisation_permissions(user, organisation) -> dict:
    return {a.value: user_can(user, a, organisation.pk) for a in Action}
