"""The Django admin (/admin/, platform administrators): settings of the request workflow.

Requests and their data are handled on the staff pages (/staff/), which check
roles per organisation and audit every step; they are not in the admin.
"""

from django.contrib import admin

from requests_app.models import OrganisationSettings


@admin.register(OrganisationSettings)
class OrganisationSettingsAdmin(admin.ModelAdmin):
    list_display = ["organisation", "auto_release_packages"]
    list_select_related = ["organisation"]

    def save_model(self, request, obj, form, change):
        from requests_app.services.packages import auto_release_set

        auto_release_set(
            organisation=obj.organisation, actor=request.user, enabled=obj.auto_release_packages
        )
