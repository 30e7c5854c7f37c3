"""Error answers where no view of ours answers: unknown URLs, server errors, malformed input.

Under /api/ they have the API's one error shape,
`{"error": {"code", "message", "fields"}}` (see requests_app/api/errors.py),
so an API client never has to parse an HTML page; elsewhere Django's pages.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def api_error(*, status: int, code: str, message) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": str(message), "fields": {}}}, status=status
    )


def page_not_found(request, exception):
    if is_api(request):
        return api_error(status=404, code="not_found", message=exceptions.NotFound.default_detail)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api(request):
        return api_error(status=500, code="error", message=exceptions.APIException.default_detail)
    return defaults.server_error(request)


def bad_request(request, exception):
    if is_api(request):
        return api_error(
            status=400, code="parse_error", message=exceptions.ParseError.default_detail
        )
    return defaults.bad_request(request, exception)
