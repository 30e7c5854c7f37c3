"""URLs of the staff API, under /api/v1/staff/ (namespace `staff_api`)."""

from __future__ import annotations

from django.urls import path

from requests_app.api.staff.actions import API_ACTIONS, FULFILMENT_ACTIONS
from requests_app.api.staff.views import (
    AutoReleaseView,
    DetailView,
    MatchExcludeView,
    MatchIncludeView,
    QueueView,
    action_view,
)

app_name = "staff_api"


urlpatterns = [
    path("requests", QueueView.as_view(), name="queue"),
    path("requests/<str:reference>", DetailView.as_view(), name="detail"),
    *[
        path(
            f"requests/<str:reference>/{name}",
            action_view(name, *spec[:3], fields=spec[3]),
            name=name,
        )
        for name, spec in API_ACTIONS.items()
    ],
    path(
        "requests/<str:reference>/matches/<int:match_id>/include",
        MatchIncludeView.as_view(),
        name="match_include",
    ),
    path(
        "requests/<str:reference>/matches/<int:match_id>/exclude",
        MatchExcludeView.as_view(),
        name="match_exclude",
    ),
    *[
        path(
            f"requests/<str:reference>/{route}",
            action_view(
                spec.name,
                spec.action,
                spec.input,
                spec.run,
                summary=spec.summary,
                description=spec.description,
                fields=spec.fields,
            ),
            name=spec.name,
        )
        for route, spec in FULFILMENT_ACTIONS.items()
    ],
    path(
        "organisations/<slug:org_slug>/auto-release",
        AutoReleaseView.as_view(),
        name="auto_release",
    ),
]
