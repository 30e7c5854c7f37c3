"""URLs of the pages the data subject sees, under /<org-slug>/.

Included last by portal/urls.py, because `/<org-slug>/` matches any first
path segment.
"""

from django.urls import include, path

from requests_app.public import views as public

public_patterns = (
    [
        path("schemas/<slug:name>.json", public.schema, name="schema"),
        path("<slug:org_slug>/", public.landing, name="landing"),
        path("<slug:org_slug>/request/<str:kind>/", public.request_form, name="request_form"),
        path("<slug:org_slug>/requests/<str:reference>/", public.status, name="status"),
        path("<slug:org_slug>/requests/<str:reference>/verify/", public.verify, name="verify"),
        path("<slug:org_slug>/requests/<str:reference>/resend/", public.resend, name="resend"),
        path("<slug:org_slug>/requests/<str:reference>/open/", public.open_link, name="open_link"),
        path(
            "<slug:org_slug>/requests/<str:reference>/download/<uuid:package_id>/",
            public.download,
            name="download",
        ),
    ],
    "requests_public",
)

# The person's answer to a question from staff (its URL namespace predates this module).
reply_patterns = (
    [path("<slug:org_slug>/requests/<str:reference>/reply/", public.reply, name="reply")],
    "staff_public",
)

urlpatterns = [
    path("", include(reply_patterns)),
    path("", include(public_patterns)),
]
