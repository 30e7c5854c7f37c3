"""HTTP helpers the web pages and the API share."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.http import StreamingHttpResponse

from requests_app.models import DataPackage
from requests_app.services.workflow import StaffActionError


def package_response(package: DataPackage, reference: str, chunks: Iterable[bytes]):
    """The encrypted package streamed as a download (its size known, never sniffed)."""
    response = StreamingHttpResponse(chunks, content_type=package.content_type)
    response["Content-Disposition"] = f'attachment; filename="{package.download_name(reference)}"'
    response["Content-Length"] = str(package.size)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def action_refused(http_request, error: StaffActionError, *, form=None) -> None:
    """Show why the rules refused an action (the one place a page shows a `StaffActionError`).

    On `form` when the page renders it again (an error of the whole form), else as a
    message the page shows after the redirect. The API answers them in `api.errors`.
    """
    if form is not None:
        form.add_error(None, error.message)
    else:
        messages.error(http_request, error.message)
