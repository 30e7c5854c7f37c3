"""The staff member's own settings (/staff/settings/): the language of their staff pages and
e-mails, with links to their recovery codes and API tokens.

The language switch in the staff header posts here too once the member is signed in, so
the switch and the setting never disagree.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from requests_app.services.staff_preferences import staff_language, staff_language_set
from requests_app.services.staff_recovery import recovery_codes_remaining
from requests_app.staff import forms as f
from requests_app.staff.session import safe_next, staff_required


@staff_required
@require_http_methods(["GET", "POST"])
def my_settings(http_request):
    """GET: the settings. POST: keep the language, then back to the page it came from."""
    user = http_request.user
    form = f.StaffSettingsForm(
        http_request.POST or None, initial={"language": staff_language(user=user)}
    )
    if http_request.method == "POST" and form.is_valid():
        language = form.cleaned_data["language"]
        staff_language_set(user=user, language=language)
        if language:
            translation.activate(language)  # the confirmation is in the chosen language
        messages.success(http_request, _("Your settings are saved."))
        response = redirect(safe_next(http_request, reverse("staff:settings")))
        if language:  # the sign-in pages, before the setting applies, follow it too
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response
    return render(
        http_request,
        "requests_app/staff/settings.html",
        {"form": form, "recovery_codes_left": recovery_codes_remaining(user=user)},
        status=400 if form.errors else 200,
    )
