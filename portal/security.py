"""Response headers every page and API answer carries (the rest is Django's SecurityMiddleware).

- `Content-Security-Policy`: only our own origin may supply scripts, styles,
  images, fonts and connections; no inline script or style (the templates
  keep their CSS in `static/`); no plugins; forms post only to us; no page
  may be framed (`frame-ancestors 'none'`, with `X-Frame-Options: DENY` for
  old browsers). A view that needs another policy sets its own header (with
  `csp_override` or directly: the API docs page for Swagger UI, the
  sandboxed preview of an access report); `frame-ancestors 'none'` is added
  to such a policy if it lacks it.
- `Cache-Control: no-store` on every answer that is not a static file: the
  status pages, the staff pages and the API carry personal data, and a rule
  that leaves nothing out cannot forget a new view. An answer whose view
  already said `no-store` keeps its header. Static files are served by
  WhiteNoise before this middleware and keep their long cache lifetimes.

A tiny middleware instead of django-csp: one fixed policy and a per-view
override need no dependency.
"""

from __future__ import annotations

import functools

from django.core.exceptions import BadRequest
from django.utils.cache import add_never_cache_headers

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# Swagger UI (/api/docs/): its files are our static files (drf-spectacular-sidecar), its
# start-up script is a separate file (SpectacularSwaggerSplitView, `?script=`) and its
# page styles are in static/css/api_docs.css, so nothing comes from another origin and
# nothing inline runs. It fetches only the schema. The page posts no form.
SWAGGER_UI_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        csp = response.get("Content-Security-Policy")
        if csp is None:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        elif "frame-ancestors" not in csp:
            response["Content-Security-Policy"] = f"{csp}; frame-ancestors 'none'"
        if "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response


class RefuseNulCharactersMiddleware:
    """400 for a path or query parameter holding a NUL character.

    No URL of ours can use one, and PostgreSQL cannot store or compare one in
    text: unrefused, a `%00` in a reference or a filter would reach a query and
    fail there with a server error. Forms and API bodies refuse NUL in their
    fields themselves (Django's and DRF's CharField).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            raise BadRequest("NUL character in the URL")
        return self.get_response(request)


def csp_override(policy: str):
    """Decorate a view whose page needs its own Content-Security-Policy."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response["Content-Security-Policy"] = policy
            return response

        return wrapper

    return decorator
