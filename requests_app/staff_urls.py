"""URLs of the staff queue: pages under /staff/, the API under /api/v1/staff/, and the
person's reply to a staff question under /<org-slug>/requests/<reference>/reply/.

Included by portal/urls.py before the public pages (whose `/<org-slug>/`
matches any first path segment).
"""

from django.urls import include, path

from requests_app.views import reply, staff, staff_fulfilment

staff_patterns = (
    [
        path("", staff.queue, name="queue"),
        path("login/", staff.login, name="login"),
        path("login/code/", staff.login_code, name="login_code"),
        path("login/enrol/", staff.enrol, name="enrol"),
        path("logout/", staff.logout, name="logout"),
        path("confirm/", staff.reauth, name="reauth"),
        path("tokens/", staff.api_tokens, name="api_tokens"),
        path("requests/<str:reference>/", staff.detail, name="detail"),
        path(
            "requests/<str:reference>/subjects/<int:subject_id>/",
            staff.subject_records,
            name="subject_records",
        ),
        path("requests/<str:reference>/package/file/", staff.package_file, name="package_file"),
        path(
            "requests/<str:reference>/package/report/",
            staff.package_preview,
            name="package_preview",
        ),
        path(
            "requests/<str:reference>/package/release/",
            staff.package_release,
            name="package_release",
        ),
        path(
            "requests/<str:reference>/fulfilment/<slug:name>/",
            staff_fulfilment.action,
            name="fulfilment",
        ),
        path("requests/<str:reference>/<slug:name>/", staff.request_action, name="action"),
        path("org/<slug:org_slug>/", staff.dashboard, name="dashboard"),
        path("org/<slug:org_slug>/register.csv", staff.register_csv, name="register_csv"),
        path("org/<slug:org_slug>/retention/", staff.retention_overview, name="retention"),
        path("org/<slug:org_slug>/retention/sweep/", staff.sweep_start, name="sweep_start"),
        path("org/<slug:org_slug>/holds/", staff.hold_place, name="hold_place"),
        path("org/<slug:org_slug>/holds/<int:hold_id>/lift/", staff.hold_lift, name="hold_lift"),
        path("org/<slug:org_slug>/audit/", staff.audit_status, name="audit"),
        path("org/<slug:org_slug>/staff/", staff.staff_members, name="members"),
    ],
    "staff",
)

public_patterns = (
    [path("<slug:org_slug>/requests/<str:reference>/reply/", reply.reply, name="reply")],
    "staff_public",
)

urlpatterns = [
    path("staff/", include(staff_patterns)),
    path("api/v1/staff/", include("requests_app.api.staff")),
    path("", include(public_patterns)),
]
