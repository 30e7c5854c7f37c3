"""Staff recovery codes: shown once after enrolment, made anew after re-authentication."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from requests_app.services.staff_recovery import recovery_codes_generate, recovery_codes_remaining
from requests_app.staff.session import reauth_redirect, recently_authenticated, staff_required

SHOW_ONCE = "staff_recovery_codes"  # session: the codes to show on the next page view only


def recovery_codes_after_enrolment(http_request):
    """Called once TOTP is enrolled and the user signed in: make the codes, show them next
    (instead of the page asked for; the codes page links on to the queue)."""
    user = http_request.user
    http_request.session[SHOW_ONCE] = recovery_codes_generate(user=user, reason="enrolment")
    return redirect(reverse("staff:recovery_codes"))


@staff_required
@require_http_methods(["GET", "POST"])
def recovery_codes(http_request):
    """GET: the codes just made (once), or how many are left. POST: new codes, which
    replace all the old ones; needs a recent re-authentication."""
    url = reverse("staff:recovery_codes")
    codes = http_request.session.pop(SHOW_ONCE, None)
    if http_request.method == "POST":
        if not recently_authenticated(http_request):
            return reauth_redirect(http_request, url)
        codes = recovery_codes_generate(user=http_request.user, reason="regenerated")
        messages.success(http_request, _("New recovery codes made. The old ones no longer work."))
    return render(
        http_request,
        "requests_app/staff/recovery_codes.html",
        {"codes": codes, "remaining": recovery_codes_remaining(user=http_request.user)},
    )
