"""/api/schema/: the OpenAPI schema, written in English whatever the site's language.

`LANGUAGE_CODE` is `sv` and the labels of model choices are translatable, so
drf-spectacular would describe enums in whatever language the request
negotiated. `EnglishSchemaView` generates the schema with English active (also
over `?lang=` and Accept-Language), so every reader and every generated client
sees the same schema.
"""

from __future__ import annotations

from django.utils import translation
from drf_spectacular.views import SpectacularAPIView


class EnglishSchemaView(SpectacularAPIView):
    """/api/schema/, always generated in English (also over `?lang=` and
    Accept-Language)."""

    def _get_schema_response(self, request):
        with translation.override("en"):
            return super()._get_schema_response(request)
