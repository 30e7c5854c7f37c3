"""URLs of the staff pages, under /staff/ (namespace `staff`).

The staff API is under /api/v1/staff/ (`requests_app.api.urls`); the person's
answer to a staff question is a public page (`requests_app.public.urls`).
"""

from django.urls import path

from requests_app.staff.views import (
    auth,
    detail,
    fulfilment,
    organisation,
    packages,
    preferences,
    queue,
    recovery,
)

app_name = "staff"

urlpatterns = [
    path("", queue.queue, name="queue"),
    path("assign/", queue.bulk_assign, name="bulk_assign"),
    path("filters/", queue.saved_filter_save, name="saved_filter_save"),
    path("filters/<int:filter_id>/", queue.saved_filter_open, name="saved_filter"),
    path("filters/<int:filter_id>/delete/", queue.saved_filter_delete, name="saved_filter_delete"),
    path("login/", auth.login, name="login"),
    path("login/code/", auth.login_code, name="login_code"),
    path("login/enrol/", auth.enrol, name="enrol"),
    path("logout/", auth.logout, name="logout"),
    path("confirm/", auth.reauth, name="reauth"),
    path("tokens/", auth.api_tokens, name="api_tokens"),
    path("recovery-codes/", recovery.recovery_codes, name="recovery_codes"),
    path("settings/", preferences.my_settings, name="settings"),
    path("requests/<str:reference>/", detail.detail, name="detail"),
    path("requests/<str:reference>/progress/", detail.progress, name="progress"),
    path(
        "requests/<str:reference>/subjects/<int:subject_id>/",
        detail.subject_records,
        name="subject_records",
    ),
    path("requests/<str:reference>/package/file/", packages.package_file, name="package_file"),
    path(
        "requests/<str:reference>/package/report/",
        packages.package_preview,
        name="package_preview",
    ),
    path(
        "requests/<str:reference>/package/release/",
        packages.package_release,
        name="package_release",
    ),
    path(
        "requests/<str:reference>/matches/<int:match_id>/<slug:action>/",
        detail.match_action,
        name="match",
    ),
    path(
        "requests/<str:reference>/fulfilment/<slug:name>/",
        fulfilment.action,
        name="fulfilment",
    ),
    path("requests/<str:reference>/<slug:name>/", detail.request_action, name="action"),
    path("org/<slug:org_slug>/", organisation.dashboard, name="dashboard"),
    path("org/<slug:org_slug>/register.csv", organisation.register_csv, name="register_csv"),
    path("org/<slug:org_slug>/retention/", organisation.retention_overview, name="retention"),
    path("org/<slug:org_slug>/retention/sweep/", organisation.sweep_start, name="sweep_start"),
    path(
        "org/<slug:org_slug>/retention/sweeps/progress/",
        organisation.sweep_progress,
        name="sweep_progress",
    ),
    path("org/<slug:org_slug>/holds/", organisation.hold_place, name="hold_place"),
    path("org/<slug:org_slug>/holds/<int:hold_id>/lift/", organisation.hold_lift, name="hold_lift"),
    path("org/<slug:org_slug>/audit/", organisation.audit_status, name="audit"),
    path("org/<slug:org_slug>/staff/", organisation.staff_members, name="members"),
]
