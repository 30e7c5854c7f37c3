from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal.health import healthz
from portal.security import SWAGGER_UI_CSP, csp_override

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
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
    path("", include("requests_app.staff_urls")),  # /staff/, /api/v1/staff/
    path("", include("requests_app.urls")),  # last: /<org-slug>/ matches any first segment
]

# Under /api/ these answer in the API's error shape (portal/errors.py).
handler400 = "portal.errors.bad_request"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
