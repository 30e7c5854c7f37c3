"""One error shape for every 4xx answer of the API.

    {"error": {"code": "invalid", "message": "...", "fields": {"email": ["..."]}}}

`fields` is present (possibly empty) on every error; field names are the JSON
names of the request body (rows of a list as `corrections[0].wrong`).

The services' refusals are answered here, in one place, so views let them through:

- `StaffActionError`: 409 with the error's code, or 400 with the error on a field
  when the view names its code in `staff_action_fields` (a value the rules refused);
- `RateLimited` and `LoginLocked`: 429 with Retry-After;
- `RateLimiterUnavailable` and `LoginUnavailable` (Redis down, counting fails
  closed): 503 with Retry-After.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from requests_app.ratelimit import RateLimited, RateLimiterUnavailable
from requests_app.services.staff_auth import LoginLocked, LoginUnavailable
from requests_app.services.workflow import StaffActionError


class ApiError(exceptions.APIException):
    """An error with an explicit code, message, optional fields and Retry-After."""

    def __init__(
        self,
        *,
        status_code: int,
        code: str,
        message,
        fields: dict | None = None,
        retry_after: int | None = None,
    ):
        self.status_code = status_code
        self.code = code
        self.fields = fields or {}
        self.wait = retry_after
        super().__init__(detail=message, code=code)


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"field": ["message", ...]}."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and not prefix:
                name = "non_field_errors"
            fields.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            fields[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    fields.update(_flatten(item, f"{prefix}[{index}]"))
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


# Waits a service asks for, in the order they are tried (LoginUnavailable is a LoginLocked):
# (exceptions, status, code, message); each exception carries its `retry_after`.
_WAITS = (
    (
        (LoginUnavailable, RateLimiterUnavailable),
        503,
        "unavailable",
        _("We cannot check codes right now. Please try again in a minute."),
    ),
    ((LoginLocked,), 429, "locked", _("Too many failed attempts.")),
    ((RateLimited,), 429, "rate_limited", _("Too many attempts. Please wait before trying again.")),
)


def _service_error(exc: Exception, view) -> ApiError | None:
    """The API's answer to a service's refusal (see the module's docstring), or None."""
    if isinstance(exc, StaffActionError):
        if exc.code in getattr(view, "staff_action_fields", ()):
            fields = {exc.code: [exc.message]}
            return ApiError(status_code=400, code="invalid", message=exc.message, fields=fields)
        return ApiError(status_code=409, code=exc.code, message=exc.message)
    for kinds, status_code, code, message in _WAITS:
        if isinstance(exc, kinds):
            return ApiError(
                status_code=status_code, code=code, message=message, retry_after=exc.retry_after
            )
    return None


def api_exception_handler(exc, context):
    exc = _service_error(exc, context.get("view")) or exc
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found."))
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        code, message, fields = exc.code, str(exc.detail), exc.fields
    elif isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        message = str(_("The request has errors; see the fields."))
        fields = _flatten(exc.detail)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else str(exc.default_detail)
        fields = {}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    response.data = {"error": {"code": code, "message": message, "fields": fields}}
    response["Cache-Control"] = "no-store"
    return response
