from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/store/", include("retention.api_urls")),
    path("", include("requests_app.staff_urls")),  # /staff/, /api/v1/staff/
    path("", include("requests_app.urls")),  # last: /<org-slug>/ matches any first segment
]
