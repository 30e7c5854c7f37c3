"""Error answers where no view of ours answers: unknown URLs, refused access, server errors,
malformed input, a failed CSRF check, the database out of reach (503).

Under /api/ they have the API's one error shape,
`{"error": {"code", "message", "fields"}}` (see requests_app/api/errors.py),
so an API client never has to parse an HTML page. Elsewhere the portal's own pages
(templates/400.html, 403.html, 404.html, 429.html, 500.html), in the visitor's language,
inside the public layout or, under /staff/, the staff layout. They never echo the address
or the exception: an address may hold a reference the visitor has no right to.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token
from rest_framework import exceptions

logger = logging.getLogger(__name__)

PUBLIC_BASE = "base.html"
# Seconds a client is asked to wait while the database is out of reach (a restart).
DATABASE_RETRY_AFTER = 30
STAFF_BASE = "requests_app/staff/base.html"


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def error_base(request) -> str:
    """The layout an error page extends: the staff one under /staff/ (and /admin/)."""
    return STAFF_BASE if request.path.startswith(("/staff/", "/admin/")) else PUBLIC_BASE


def api_error(*, status: int, code: str, message) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": str(message), "fields": {}}}, status=status
    )


def error_page(request, *, status: int):
    """templates/<status>.html in the visitor's language and the side's layout."""
    return render(
        request,
        f"{status}.html",
        {"error_base": error_base(request), "status": status},
        status=status,
    )


@requires_csrf_token
def bad_request(request, exception):
    if is_api(request):
        return api_error(
            status=400, code="parse_error", message=exceptions.ParseError.default_detail
        )
    return error_page(request, status=400)


@requires_csrf_token
def permission_denied(request, exception):
    if is_api(request):
        return api_error(
            status=403,
            code="permission_denied",
            message=exceptions.PermissionDenied.default_detail,
        )
    return error_page(request, status=403)


@requires_csrf_token
def page_not_found(request, exception):
    if is_api(request):
        return api_error(status=404, code="not_found", message=exceptions.NotFound.default_detail)
    return error_page(request, status=404)


def server_error(request):
    """Rendered without the request's context processors: whatever broke the view (the
    database, a session) may break them too. The layout, the language and the static
    files still work."""
    if is_api(request):
        return api_error(status=500, code="error", message=exceptions.APIException.default_detail)
    from django.http import HttpResponseServerError

    template = loader.get_template("500.html")
    return HttpResponseServerError(
        template.render({"error_base": error_base(request), "status": 500, "bare": True})
    )


def csrf_failure(request, reason=""):
    """A form sent without a valid CSRF token (often: a page left open past the session)."""
    if is_api(request):
        return api_error(status=403, code="csrf_failed", message=reason or "CSRF check failed")
    return render(
        request,
        "403_csrf.html",
        {"error_base": error_base(request), "status": 403},
        status=403,
    )


class DatabaseUnavailableMiddleware:
    """The database is out of reach (restarting, a failover): 503 with Retry-After, not 500.

    Nothing was saved, and the answer says so: a client that files a request tries again
    (the API's `unavailable` code; the page asks the visitor to send the form again). The
    log names the exception's class only: its message can hold a connection string.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable: %s", type(exception).__name__)
        if is_api(request):
            response = api_error(
                status=503,
                code="unavailable",
                message=_(
                    "The service is briefly unavailable and nothing was saved. "
                    "Please try again in a minute."
                ),
            )
        else:
            template = loader.get_template("503.html")
            response = HttpResponse(
                template.render({"error_base": error_base(request), "status": 503, "bare": True}),
                status=503,
            )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        response["Cache-Control"] = "no-store"
        return response
