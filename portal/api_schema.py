"""How the OpenAPI schema (/api/schema/) groups its operations.

Every operation is tagged by audience and resource (`portal.api_tags.TAGS`,
longest path prefix wins), so the docs page and generated clients group them the way their users
think of them instead of one `v1` heap. An operation under no known prefix is a
mistake caught by tests/requests_app/test_api_schema.py.

A list answer documented as `OpenApiResponse(Serializer(many=True), description=...)`
counts as a list view (drf-spectacular looks through the wrapper for the envelope but not
for the parameters), so a view with a `pagination_class` gets its pagination's query
parameters (`page`, `page_size`, `cursor`) and envelope in the schema.

The view that serves the schema is in portal/api_schema_view.py (drf-spectacular's
views import this class through DEFAULT_SCHEMA_CLASS: one module would be a cycle).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from portal.api_tags import TAGS


class TaggedAutoSchema(AutoSchema):
    """drf-spectacular's schema, tagged by `TAGS` (an explicit extend_schema(tags=...)
    on a view still wins: it overrides this method)."""

    def get_tags(self) -> list[str]:
        matches = [(prefix, tag) for prefix, tag, _text in TAGS if self.path.startswith(prefix)]
        if not matches:
            return super().get_tags()
        return [max(matches, key=lambda match: len(match[0]))[1]]

    def _is_list_view(self, serializer=None) -> bool:
        if serializer is None:
            serializer = self.get_response_serializers()
        if isinstance(serializer, dict) and serializer:
            by_code = {str(code): value for code, value in serializer.items()}
            serializer = by_code[min(by_code)]
        if isinstance(serializer, OpenApiResponse):
            serializer = serializer.response
        return super()._is_list_view(serializer)
