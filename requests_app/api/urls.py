from django.urls import path

from requests_app.api import public as views

app_name = "requests_api"

urlpatterns = [
    path("requests", views.RequestCreateView.as_view(), name="create"),
    path("requests/<str:reference>", views.RequestDetailView.as_view(), name="detail"),
    path("requests/<str:reference>/verify", views.RequestVerifyView.as_view(), name="verify"),
    path("requests/<str:reference>/resend", views.RequestResendView.as_view(), name="resend"),
    path(
        "requests/<str:reference>/files/<uuid:package_id>",
        views.RequestFileView.as_view(),
        name="file",
    ),
]
