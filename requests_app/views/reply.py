"""The person's answer to a question from staff (public side): their answer restarts the clock.

Only a browser session that proved the person's e-mail address (see
`requests_app.views.public`) may answer; anyone else is sent to the status
page, which asks them to prove it first.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from requests_app.forms_staff import ReplyForm
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.services.requests import reference_normalise
from requests_app.services.staff import StaffActionError, request_information_answer
from requests_app.views.public import SESSION_KEY
from retention.models import Organisation


def _organisation(http_request, slug: str) -> Organisation:
    """The organisation or 404; its default language until the person chose one (as public.py)."""
    organisation = get_object_or_404(Organisation, slug=slug)
    if settings.LANGUAGE_COOKIE_NAME not in http_request.COOKIES:
        translation.activate(organisation.default_language)
        http_request.LANGUAGE_CODE = organisation.default_language
    return organisation


def _request_for_session(http_request, organisation, reference) -> SubjectRequest | None:
    """The request if this browser session proved the person's address (see public.py)."""
    subject_request = get_object_or_404(
        SubjectRequest, organisation=organisation, reference=reference_normalise(reference)
    )
    if subject_request.pk in http_request.session.get(SESSION_KEY, []):
        return subject_request
    return None


@never_cache
@require_http_methods(["GET", "POST"])
def reply(http_request, org_slug: str, reference: str):
    organisation = _organisation(http_request, org_slug)
    subject_request = _request_for_session(http_request, organisation, reference)
    status_url = ("requests_public:status", organisation.slug)
    if subject_request is None:
        return redirect(status_url[0], org_slug=organisation.slug, reference=reference)
    question = subject_request.questions.filter(answered_at__isnull=True).last()
    if subject_request.status != RequestStatus.AWAITING_SUBJECT or question is None:
        messages.info(http_request, _("There is no open question on this request."))
        return redirect(status_url[0], org_slug=organisation.slug, reference=reference)
    form = ReplyForm(http_request.POST or None)
    if http_request.method == "POST" and form.is_valid():
        try:
            request_information_answer(request=subject_request, answer=form.cleaned_data["answer"])
        except StaffActionError as exc:
            messages.error(http_request, exc.message)
        else:
            messages.success(http_request, _("Thank you. We have received your answer."))
        return redirect(status_url[0], org_slug=organisation.slug, reference=reference)
    return render(
        http_request,
        "requests_app/public/reply.html",
        {
            "organisation": organisation,
            "subject_request": subject_request,
            "question": question,
            "form": form,
        },
        status=400 if form.errors else 200,
    )
