"""The Django admin (/admin/) behind the same two factors as the staff pages.

`PortalAdminSite` is django-otp's `OTPAdminSite`: only a session verified with
a TOTP code (`request.user.is_verified()`) gets in, so a password alone never
opens the admin. It has no sign-in form of its own: /admin/login/ sends the
user to the staff sign-in (/staff/login/: password, then the TOTP code, with
its lockouts and audit entries), which brings them back to the admin. The
staff pages' session limits apply too: after `STAFF_SESSION_IDLE_MINUTES`
without a request or `STAFF_SESSION_MAX_HOURS` after the sign-in, the
session ends and the user signs in again.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.admin import OTPAdminSite


class PortalAdminSite(OTPAdminSite):
    def __init__(self, name: str = "admin"):
        super().__init__(name)

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        # Imported here: the admin site is built while the apps are still loading.
        from django.contrib.auth import logout

        from requests_app.staff.session import SEEN_AT, staff_session_expired

        if staff_session_expired(request.session):
            logout(request)
            return False
        request.session[SEEN_AT] = time.time()
        return True

    def login(self, request, extra_context=None):
        """The staff sign-in, then back to where the user was going in the admin."""
        target = request.GET.get(REDIRECT_FIELD_NAME) or reverse(
            "admin:index", current_app=self.name
        )
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index", current_app=self.name)
        return redirect(reverse("staff:login") + "?" + urlencode({"next": target}))
