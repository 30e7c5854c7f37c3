"""The public pages: the landing page, the request forms, verification and the status page.

Every view that shows or takes personal data answers `Cache-Control: no-store`
(`never_cache`). Access to a request's status is granted to the browser
session only after the person proved their e-mail address (a code, or the
single-use link from the confirmation e-mail); `_request_for_session` is the
one place that checks it.
"""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from requests_app.choices import offers_consent_withdrawal
from requests_app.http import action_refused, package_response
from requests_app.models import DataPackage, RequestKind, RequestStatus, SubjectRequest
from requests_app.public.forms import FORMS, CodeForm, EmailProofForm, RectificationForm, ReplyForm
from requests_app.ratelimit import (
    RateLimited,
    RateLimiterUnavailable,
    client_ip,
    rate_limit_check,
)
from requests_app.references import reference_normalise
from requests_app.selectors import public as selectors
from requests_app.services.packages import (
    SCHEMA_DIR,
    PackageUnavailable,
    download_proof_fresh,
    package_available,
    package_download,
)
from requests_app.services.requests import request_submit
from requests_app.services.staff import request_information_answer
from requests_app.services.tokens import status_token_exchange
from requests_app.services.verification import (
    CodeResult,
    VerificationFailed,
    verification_check,
    verification_request_new,
)
from requests_app.services.workflow import StaffActionError
from retention.models import Organisation

SESSION_KEY = "dsr_access"
# {request id: when the person last entered a code for it}: downloads need a fresh one.
PROOF_KEY = "dsr_proved"
# Requests filed in this browser session: it may ask for a new code without typing the
# address again (it just typed it). Grants no access.
FILED_KEY = "dsr_filed"


def _organisation(http_request, slug: str) -> Organisation:
    """The organisation, or 404; its default language applies until the person chooses one."""
    organisation = get_object_or_404(Organisation, slug=slug)
    if settings.LANGUAGE_COOKIE_NAME not in http_request.COOKIES:
        translation.activate(organisation.default_language)
        http_request.LANGUAGE_CODE = organisation.default_language
    return organisation


def _request_language(http_request, subject_request: SubjectRequest) -> None:
    """A page about one request speaks the request's language (as its e-mails do), until the
    person chooses one: the link in an English e-mail opens an English page."""
    if settings.LANGUAGE_COOKIE_NAME not in http_request.COOKIES:
        translation.activate(subject_request.language)
        http_request.LANGUAGE_CODE = subject_request.language


def _request(organisation: Organisation, reference: str) -> SubjectRequest:
    return get_object_or_404(
        SubjectRequest.objects.select_related("organisation", "linked_to"),
        organisation=organisation,
        reference=reference_normalise(reference),
    )


def _grant(http_request, subject_request: SubjectRequest) -> None:
    """Let this browser session see the request (and the one it was joined to).

    Every grant gives the session a new id, so an id planted or seen before the proof
    (session fixation) opens nothing.
    """
    granted = set(http_request.session.get(SESSION_KEY, []))
    http_request.session.cycle_key()
    granted.add(subject_request.pk)
    if subject_request.linked_to_id:
        granted.add(subject_request.linked_to_id)
    http_request.session[SESSION_KEY] = sorted(granted)


def _prove(http_request, subject_request: SubjectRequest) -> None:
    """The person just entered a code for this request (a link from an e-mail is not enough)."""
    proved = dict(http_request.session.get(PROOF_KEY, {}))
    proved[str(subject_request.pk)] = time.time()
    http_request.session[PROOF_KEY] = proved


def _proved_recently(http_request, subject_request: SubjectRequest) -> bool:
    return download_proof_fresh(
        http_request.session.get(PROOF_KEY, {}).get(str(subject_request.pk))
    )


def _request_for_session(http_request, organisation, reference) -> SubjectRequest | None:
    """The request if this session may see it; None when the person must prove their address."""
    subject_request = _request(organisation, reference)
    if subject_request.pk in http_request.session.get(SESSION_KEY, []):
        return subject_request
    return None


def _may_resend_without_address(http_request, subject_request: SubjectRequest) -> bool:
    """This session filed the request or already proved the address: it knows the address."""
    session = http_request.session
    return subject_request.pk in session.get(SESSION_KEY, []) or subject_request.pk in session.get(
        FILED_KEY, []
    )


def _unavailable(http_request, organisation):
    """Redis is down and the action fails closed (a code check, a new code): try again."""
    response = render(
        http_request,
        "requests_app/public/unavailable.html",
        {"organisation": organisation},
        status=503,
    )
    response["Retry-After"] = str(RateLimiterUnavailable.retry_after)
    return response


def _too_many(http_request, organisation, exc: RateLimited, message: str | None = None):
    response = render(
        http_request,
        "requests_app/public/rate_limited.html",
        {
            "organisation": organisation,
            "retry_after": exc.retry_after,
            "minutes": max(1, (exc.retry_after + 59) // 60),
            "message": message,
        },
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


@never_cache
def landing(http_request, org_slug: str):
    organisation = _organisation(http_request, org_slug)
    return render(
        http_request,
        "requests_app/public/landing.html",
        {
            "organisation": organisation,
            "policy": organisation.policy or {},
            "purposes": selectors.organisation_purposes(organisation),
            "categories": selectors.organisation_categories(organisation),
            "recipients": selectors.organisation_recipients(organisation),
            "rights": selectors.organisation_rights(organisation),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def request_form(http_request, org_slug: str, kind: str):
    organisation = _organisation(http_request, org_slug)
    if kind not in RequestKind.values:
        raise Http404
    form_class = FORMS[kind]
    if kind == RequestKind.CONSENT_WITHDRAWAL and not offers_consent_withdrawal(organisation):
        # Nothing is processed on consent: there is no form, only the reason and the way on.
        return render(
            http_request,
            "requests_app/public/not_offered.html",
            {"organisation": organisation, "kind_label": RequestKind(kind).label},
            status=404,
        )
    if http_request.method == "POST" and "add_rows" in http_request.POST:
        form = RectificationForm.with_more_rows(http_request.POST, organisation=organisation)
    elif http_request.method == "POST":
        try:
            rate_limit_check(action="submit", ip=client_ip(http_request))
        except RateLimited as exc:
            return _too_many(http_request, organisation, exc)
        form = form_class(http_request.POST, organisation=organisation)
        if form.is_valid():
            try:
                rate_limit_check(action="submit", email=form.cleaned_data["email"])
            except RateLimited as exc:
                return _too_many(http_request, organisation, exc)
            subject_request = request_submit(**form.submission())
            filed = http_request.session.get(FILED_KEY, [])
            http_request.session[FILED_KEY] = [*filed[-9:], subject_request.pk]
            messages.success(
                http_request,
                _("We have received your request and sent a code to your e-mail address."),
            )
            return redirect(
                "requests_public:verify",
                org_slug=organisation.slug,
                reference=subject_request.reference,
            )
    else:
        initial = {}
        if kind == RequestKind.OBJECTION and http_request.GET.get("direct_marketing"):
            initial["direct_marketing"] = True
        form = form_class(organisation=organisation, initial=initial)
    return render(
        http_request,
        "requests_app/public/request_form.html",
        {
            "organisation": organisation,
            "form": form,
            "kind": kind,
            "kind_label": RequestKind(kind).label,
        },
        status=400 if http_request.method == "POST" and form.is_bound and form.errors else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def verify(http_request, org_slug: str, reference: str):
    organisation = _organisation(http_request, org_slug)
    subject_request = _request(organisation, reference)
    form = CodeForm(http_request.POST or None)
    status = 200
    if http_request.method == "POST":
        try:
            rate_limit_check(
                action="verify", ip=client_ip(http_request), email=subject_request.email
            )
        except RateLimited as exc:
            return _too_many(http_request, organisation, exc)
        except RateLimiterUnavailable:
            return _unavailable(http_request, organisation)
        if form.is_valid():
            try:
                subject_request = verification_check(
                    request=subject_request, code=form.cleaned_data["code"]
                )
            except VerificationFailed as exc:
                status = 400
                if exc.result is CodeResult.WRONG:
                    form.add_error(
                        "code",
                        _("The code is not right. Tries left: %(left)d.")
                        % {"left": exc.attempts_left},
                    )
                elif exc.result is CodeResult.LOCKED:
                    status = 429
                    form.add_error(
                        "code",
                        _("Too many wrong tries: this code no longer works. Ask for a new code."),
                    )
                else:
                    form.add_error(
                        "code",
                        _("The code has expired or was already used. Ask for a new code."),
                    )
            else:
                _grant(http_request, subject_request)
                _prove(http_request, subject_request)
                return redirect(
                    "requests_public:status",
                    org_slug=organisation.slug,
                    reference=subject_request.reference,
                )
        else:
            status = 400
    return _verify_page(http_request, organisation, subject_request, form, status=status)


def _verify_page(http_request, organisation, subject_request, form, *, status=200, resend=None):
    if resend is None and not _may_resend_without_address(http_request, subject_request):
        resend = EmailProofForm(prefix="resend")
    return render(
        http_request,
        "requests_app/public/verify.html",
        {
            "organisation": organisation,
            "subject_request": subject_request,
            "form": form,
            "resend_form": resend,
        },
        status=status,
    )


@never_cache
@require_POST
def resend(http_request, org_slug: str, reference: str):
    """A new code, to the request's address: only for someone who knows that address.

    A session that filed the request or proved it already asks with one click;
    anyone else types the address, and the answer is the same whether it matched
    or not (no oracle, no e-mail to the person at a stranger's will).
    """
    organisation = _organisation(http_request, org_slug)
    subject_request = _request(organisation, reference)
    known = _may_resend_without_address(http_request, subject_request)
    if known:
        email = subject_request.email
    else:
        form = EmailProofForm(http_request.POST, prefix="resend")
        if not form.is_valid():
            return _verify_page(
                http_request, organisation, subject_request, CodeForm(), status=400, resend=form
            )
        email = form.cleaned_data["email"]
    try:
        rate_limit_check(action="resend", ip=client_ip(http_request), email=email)
    except RateLimited as exc:
        return _too_many(http_request, organisation, exc)
    except RateLimiterUnavailable:
        return _unavailable(http_request, organisation)
    if known:
        verification_request_new(request=subject_request)
        messages.success(http_request, _("We have sent a new code. The old code no longer works."))
    else:
        if hmac.compare_digest(email.encode(), subject_request.email.encode()):
            verification_request_new(request=subject_request)
        messages.info(
            http_request,
            _("If the address is the one in the request, we have sent a new code to it."),
        )
    return redirect(
        "requests_public:verify", org_slug=organisation.slug, reference=subject_request.reference
    )


@never_cache
@require_http_methods(["GET", "POST"])
def status(http_request, org_slug: str, reference: str):
    organisation = _organisation(http_request, org_slug)
    subject_request = _request_for_session(http_request, organisation, reference)
    if subject_request is not None:
        _request_language(http_request, subject_request)
        package = DataPackage.objects.filter(request=subject_request).first()
        return render(
            http_request,
            "requests_app/public/status.html",
            {
                "organisation": organisation,
                "subject_request": subject_request,
                "events": subject_request.events.all(),
                "pauses": subject_request.pauses.all(),
                "linked_requests": subject_request.linked_requests.all(),
                "package": package,
                "package_available": package_available(package),
                "proved_recently": _proved_recently(http_request, subject_request),
                "proof_minutes": settings.PACKAGE_DOWNLOAD_PROOF_MINUTES,
            },
        )
    # Not (yet) allowed: the person proves their address again with a fresh code.
    subject_request = _request(organisation, reference)
    _request_language(http_request, subject_request)
    form = EmailProofForm(http_request.POST or None)
    if http_request.method == "POST" and form.is_valid():
        try:
            rate_limit_check(
                action="resend", ip=client_ip(http_request), email=form.cleaned_data["email"]
            )
        except RateLimited as exc:
            return _too_many(http_request, organisation, exc)
        except RateLimiterUnavailable:
            return _unavailable(http_request, organisation)
        if hmac.compare_digest(form.cleaned_data["email"].encode(), subject_request.email.encode()):
            verification_request_new(request=subject_request)
        # The same answer either way: the page does not tell whether the address matched.
        messages.info(
            http_request,
            _("If the address is the one in the request, we have sent a code to it."),
        )
        return redirect(
            "requests_public:verify",
            org_slug=organisation.slug,
            reference=subject_request.reference,
        )
    return render(
        http_request,
        "requests_app/public/prove_email.html",
        {"organisation": organisation, "subject_request": subject_request, "form": form},
        status=400 if form.is_bound else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def open_link(http_request, org_slug: str, reference: str):
    """The link in the confirmation e-mail: a button exchanges its token for a session.

    GET only shows the button (mail scanners that follow links do not use up
    the token); POST exchanges it once and redirects to the status page, so
    the token leaves the address bar.
    """
    organisation = _organisation(http_request, org_slug)
    subject_request = _request(organisation, reference)
    _request_language(http_request, subject_request)
    if http_request.method == "POST":
        if status_token_exchange(request=subject_request, token=http_request.POST.get("t", "")):
            _grant(http_request, subject_request)
        else:
            messages.error(
                http_request,
                _("This link has expired or was already used. Confirm your e-mail address again."),
            )
        return redirect(
            "requests_public:status",
            org_slug=organisation.slug,
            reference=subject_request.reference,
        )
    return render(
        http_request,
        "requests_app/public/open_link.html",
        {
            "organisation": organisation,
            "subject_request": subject_request,
            "token": http_request.GET.get("t", ""),
        },
    )


@never_cache
@require_GET
def download(http_request, org_slug: str, reference: str, package_id):
    """The person's access or portability package: only right after a fresh code.

    A session opened by the e-mail link, or by a code entered longer ago than
    PACKAGE_DOWNLOAD_PROOF_MINUTES, is asked for a new code first. The file
    name is the server's; every download is audited.
    """
    organisation = _organisation(http_request, org_slug)
    subject_request = _request_for_session(http_request, organisation, reference)
    if subject_request is None:
        return redirect("requests_public:status", org_slug=organisation.slug, reference=reference)
    package = (
        DataPackage.objects.select_related("request__organisation")
        .filter(request=subject_request, public_id=package_id)
        .first()
    )
    if package is None or package.state not in (
        DataPackage.State.RELEASED,
        DataPackage.State.EXPIRED,
    ):
        raise Http404
    _request_language(http_request, subject_request)
    context = {"organisation": organisation, "subject_request": subject_request, "package": package}
    if not package_available(package):
        return render(http_request, "requests_app/public/package_gone.html", context, status=410)
    if not _proved_recently(http_request, subject_request):
        context["proof_minutes"] = settings.PACKAGE_DOWNLOAD_PROOF_MINUTES
        return render(http_request, "requests_app/public/download_proof.html", context, status=403)
    try:
        chunks = package_download(package=package, channel="web")
    except PackageUnavailable:
        return render(http_request, "requests_app/public/package_gone.html", context, status=410)
    return package_response(package, subject_request.reference, chunks)


# --- The person's answer to a question from staff: it restarts the clock ---------------


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
            action_refused(http_request, exc)
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


SCHEMAS = {"access-v1", "portability-v1"}


@require_GET
def schema(http_request, name: str):
    """The JSON Schema of the access and portability files (public documentation)."""
    if name not in SCHEMAS:
        raise Http404
    return FileResponse(
        open(SCHEMA_DIR / f"{name}.schema.json", "rb"),  # noqa: SIM115  (closed by Django)
        content_type="application/schema+json",
    )
