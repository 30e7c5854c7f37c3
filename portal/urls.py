from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from portal import health
from portal.api_schema_view import EnglishSchemaView
from portal.front_door import front_door
from portal.security import SWAGGER_UI_CSP, csp_override

urlpatterns = [
    path("", front_door, name="front_door"),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/live", health.live, name="healthz-live"),
    path("healthz/ready", health.ready, name="healthz-ready"),
    path("admin/", admin.site.urls),
    path("api/schema/", EnglishSchemaView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        csp_override(SWAGGER_UI_CSP)(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema", template_name="api_docs.html"
            )
        ),
        name="api-docs",
    ),
    path("api/v1/store/", include("retention.api_urls")),
    path("staff/", include("requests_app.staff.urls")),
    path("api/v1/staff/", include("requests_app.api.staff.urls")),
    path("api/v1/", include("requests_app.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("requests_app.public.urls")),  # last: /<org-slug>/ matches any segment
]

# Under /api/ these answer in the API's error shape, elsewhere the portal's own pages
# (portal/errors.py, templates/400.html ... 500.html).
handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
