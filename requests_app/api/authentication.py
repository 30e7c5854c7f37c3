"""The public API's bearer token: the one a person gets from the verify call.

`Authorization: Bearer <token>` on the calls that read a request
(`GET /api/v1/requests/{reference}` and its files). The token opens only the
request named in the URL and only until it expires; `request.auth` is then its
`StatusToken` row (its `created_at` says how fresh the e-mail proof is).

A missing, wrong or expired token answers 401 `not_authenticated` in the API's
error shape, with `WWW-Authenticate: Bearer` (`requests_app.api.errors`).
The OpenAPI schema lists it as the `requestToken` bearer scheme, so the docs'
Authorize button can call these operations.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from requests_app.api.errors import ApiError
from requests_app.models import StatusToken
from requests_app.references import reference_normalise
from requests_app.services.tokens import status_token_lookup


def _not_authenticated() -> ApiError:
    return ApiError(
        status_code=401,
        code="not_authenticated",
        message=_("Send the token from the verify call as a bearer token."),
    )


class RequestTokenAuthentication(BaseAuthentication):
    """Authenticates the token from the verify call for the request in the URL."""

    keyword = "bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != self.keyword:
            raise _not_authenticated()
        reference = (request.parser_context or {}).get("kwargs", {}).get("reference", "")
        row = status_token_lookup(reference=reference_normalise(reference), token=token.strip())
        if row is None:
            raise _not_authenticated()
        return (None, row)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class HasRequestToken(BasePermission):
    """The call carried a valid token for this request (else 401, never 403)."""

    def has_permission(self, request, view):
        if not isinstance(request.auth, StatusToken):
            raise _not_authenticated()
        return True


class RequestTokenScheme(OpenApiAuthenticationExtension):
    target_class = RequestTokenAuthentication
    name = "requestToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The token the verify call answers "
            "(`POST /api/v1/requests/{reference}/verify`); it opens only that request.",
        }
