from django.urls import path

from retention import api

app_name = "store"
urlpatterns = [
    path("subjects", api.SubjectUpsertView.as_view(), name="subjects"),
    path("processing-check", api.ProcessingCheckView.as_view(), name="processing-check"),
    path("marketing-audience", api.MarketingAudienceView.as_view(), name="marketing-audience"),
]
