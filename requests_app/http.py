"""HTTP helpers the web pages and the API share."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import StreamingHttpResponse

from requests_app.models import DataPackage


def package_response(package: DataPackage, reference: str, chunks: Iterable[bytes]):
    """The encrypted package streamed as a download (its size known, never sniffed)."""
    response = StreamingHttpResponse(chunks, content_type=package.content_type)
    response["Content-Disposition"] = f'attachment; filename="{package.download_name(reference)}"'
    response["Content-Length"] = str(package.size)
    response["X-Content-Type-Options"] = "nosniff"
    return response
