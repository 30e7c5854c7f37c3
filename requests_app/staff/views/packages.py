"""The access or portability package on a request's staff page: file, report, release."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from requests_app.http import action_refused
from requests_app.models import (
    DataPackage,
)
from requests_app.permissions import (
    Action,
)
from requests_app.services import packages
from requests_app.services import staff as svc
from requests_app.services.actions import action_run
from requests_app.staff.session import (
    reauth_redirect,
    recently_authenticated,
    request_fetch,
    staff_required,
)


def _package(http_request, reference, action):
    subject_request = request_fetch(http_request, reference, action)
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
    subject_request, _package_row = _package(http_request, reference, Action.RELEASE_PACKAGE)
    detail_url = reverse("staff:detail", kwargs={"reference": subject_request.reference})
    if not recently_authenticated(http_request):
        return reauth_redirect(http_request, detail_url)
    try:
        action_run("release_package", request=subject_request, actor=http_request.user, data={})
    except svc.StaffActionError as exc:
        action_refused(http_request, exc)
    else:
        messages.success(
            http_request,
            _("The package is released: the request is completed and the person is told."),
        )
    return redirect(detail_url)
